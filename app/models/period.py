"""Pedagogical annexes, periods in a company, portfolios and liaison sheets."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.assessment import Assessment
    from app.models.framework import Task
    from app.models.school import Level
    from app.models.sheet import ActivitySheet, JournalEntry
    from app.models.user import Learner, Teacher, Tutor, User

annex_tasks = db.Table(
    "annex_tasks",
    db.Column(
        "annex_id", db.ForeignKey("pedagogical_annexes.id", ondelete="CASCADE"), primary_key=True
    ),
    db.Column("task_id", db.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
)

period_tasks = db.Table(
    "period_tasks",
    db.Column("period_id", db.ForeignKey("periods.id", ondelete="CASCADE"), primary_key=True),
    db.Column("task_id", db.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
)


class PedagogicalAnnex(db.Model):  # type: ignore[name-defined]
    """The root template of a period: training objectives and activities to entrust."""

    __tablename__ = "pedagogical_annexes"

    id: Mapped[int] = mapped_column(primary_key=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("levels.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    objectives: Mapped[str] = mapped_column(Text, default="")
    activities: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    level: Mapped[Level] = relationship()
    tasks: Mapped[list[Task]] = relationship(secondary=annex_tasks, order_by="Task.position")


class Period(db.Model):  # type: ignore[name-defined]
    """A period in a company (PFMP or apprenticeship period) for learners of one level."""

    __tablename__ = "periods"
    __table_args__ = (CheckConstraint("end_date >= start_date", name="dates_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("levels.id", ondelete="RESTRICT"), index=True)
    annex_id: Mapped[int | None] = mapped_column(
        ForeignKey("pedagogical_annexes.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column()
    end_date: Mapped[date] = mapped_column()
    objectives: Mapped[str] = mapped_column(Text, default="")
    activities: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    level: Mapped[Level] = relationship()
    annex: Mapped[PedagogicalAnnex | None] = relationship()
    tasks: Mapped[list[Task]] = relationship(secondary=period_tasks, order_by="Task.position")
    portfolios: Mapped[list[Portfolio]] = relationship(
        back_populates="period", cascade="all, delete-orphan", passive_deletes=True
    )


class Portfolio(db.Model):  # type: ignore[name-defined]
    """One learner in one period: their sheets, journal, liaison sheet and assessment."""

    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("period_id", "learner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    referent_teacher_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    tutor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    period: Mapped[Period] = relationship(back_populates="portfolios")
    learner: Mapped[Learner] = relationship(foreign_keys=[learner_id])
    referent_teacher: Mapped[Teacher | None] = relationship(foreign_keys=[referent_teacher_id])
    tutor: Mapped[Tutor | None] = relationship(foreign_keys=[tutor_id])
    sheets: Mapped[list[ActivitySheet]] = relationship(
        back_populates="portfolio", order_by="ActivitySheet.position"
    )
    journal_entries: Mapped[list[JournalEntry]] = relationship(
        back_populates="portfolio",
        order_by="JournalEntry.entry_date",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    liaison_sheet: Mapped[LiaisonSheet | None] = relationship(
        back_populates="portfolio", cascade="all, delete-orphan", passive_deletes=True
    )
    assessment: Mapped[Assessment | None] = relationship(
        back_populates="portfolio", cascade="all, delete-orphan", passive_deletes=True
    )


class LiaisonSheet(db.Model):  # type: ignore[name-defined]
    """Fiche de liaison entreprise. Objectives and activities come from the period unless
    individualised for this learner (the *_individual flags), which period-wide edits keep."""

    __tablename__ = "liaison_sheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), unique=True
    )
    company_name: Mapped[str] = mapped_column(String(200), default="")
    company_siret: Mapped[str] = mapped_column(String(14), default="")
    company_address: Mapped[str] = mapped_column(Text, default="")
    company_phone: Mapped[str] = mapped_column(String(30), default="")
    tutor_name: Mapped[str] = mapped_column(String(160), default="")
    tutor_role: Mapped[str] = mapped_column(String(120), default="")
    tutor_email: Mapped[str] = mapped_column(String(254), default="")
    tutor_phone: Mapped[str] = mapped_column(String(30), default="")
    objectives: Mapped[str] = mapped_column(Text, default="")
    activities: Mapped[str] = mapped_column(Text, default="")
    objectives_individual: Mapped[bool] = mapped_column(default=False)
    activities_individual: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    portfolio: Mapped[Portfolio] = relationship(back_populates="liaison_sheet")
    updated_by: Mapped[User | None] = relationship()
