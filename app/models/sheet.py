"""Activity sheets, their links to the framework, read state, attachments and the journal."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.framework import Activity, Competency, Criterion, Task
    from app.models.period import Portfolio
    from app.models.user import Learner


class SheetKind:
    WEEK = "week"  # generated, one per ISO week of the period
    COMPLEMENTARY = "complementary"  # added by the learner or teacher to a period
    FREE = "free"  # created in the free-sheets folder


class ActivitySheet(db.Model):  # type: ignore[name-defined]
    """Fiche activité. `portfolio_id` is null for a free sheet (fiches libres); the learner
    always owns the sheet, so it survives the deletion of its period."""

    __tablename__ = "activity_sheets"
    __table_args__ = (
        CheckConstraint("kind in ('week', 'complementary', 'free')", name="kind"),
        CheckConstraint(
            "conditions is null or conditions in ('autonomous', 'accompanied')", name="conditions"
        ),
        CheckConstraint("iso_week is null or (iso_week >= 1 and iso_week <= 53)", name="iso_week"),
        Index("ix_activity_sheets_learner_portfolio", "learner_id", "portfolio_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    portfolio_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolios.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(15), default=SheetKind.WEEK)
    iso_year: Mapped[int | None] = mapped_column()
    iso_week: Mapped[int | None] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))
    # Contexte
    company: Mapped[str] = mapped_column(String(200), default="")
    conditions: Mapped[str | None] = mapped_column(String(12))
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL")
    )
    # Fiche
    description: Mapped[str] = mapped_column(Text, default="")
    analysis: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the learner writes (drives "dernière modification" and the green title).
    learner_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    learner: Mapped[Learner] = relationship()
    portfolio: Mapped[Portfolio | None] = relationship(back_populates="sheets")
    activity: Mapped[Activity | None] = relationship()
    tasks: Mapped[list[SheetTask]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", passive_deletes=True
    )
    competencies: Mapped[list[SheetCompetency]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", passive_deletes=True
    )
    criteria: Mapped[list[SheetCriterion]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", passive_deletes=True
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="sheet",
        order_by="Attachment.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def is_written(self) -> bool:
        """A sheet counts as completed once the learner described the activity."""
        return bool(self.description.strip())


class SheetTask(db.Model):  # type: ignore[name-defined]
    """A task linked to a sheet: ticked by the learner and/or confirmed or added by a teacher."""

    __tablename__ = "sheet_tasks"
    __table_args__ = (UniqueConstraint("sheet_id", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(
        ForeignKey("activity_sheets.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    ticked_by_learner: Mapped[bool] = mapped_column(default=False)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sheet: Mapped[ActivitySheet] = relationship(back_populates="tasks")
    task: Mapped[Task] = relationship()


class SheetCompetency(db.Model):  # type: ignore[name-defined]
    """A competency the teacher plans to assess, through a task of the sheet.
    mode 'global' rates the competency as a whole; 'criteria' rates its selected criteria."""

    __tablename__ = "sheet_competencies"
    __table_args__ = (
        UniqueConstraint("sheet_id", "task_id", "competency_id"),
        CheckConstraint("mode in ('global', 'criteria')", name="mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(
        ForeignKey("activity_sheets.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    competency_id: Mapped[int] = mapped_column(
        ForeignKey("competencies.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(10), default="global")

    sheet: Mapped[ActivitySheet] = relationship(back_populates="competencies")
    competency: Mapped[Competency] = relationship()


class SheetCriterion(db.Model):  # type: ignore[name-defined]
    """A detailed criterion selected for assessment, through a task of the sheet."""

    __tablename__ = "sheet_criteria"
    __table_args__ = (UniqueConstraint("sheet_id", "task_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(
        ForeignKey("activity_sheets.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    criterion_id: Mapped[int] = mapped_column(
        ForeignKey("criteria.id", ondelete="CASCADE"), index=True
    )

    sheet: Mapped[ActivitySheet] = relationship(back_populates="criteria")
    criterion: Mapped[Criterion] = relationship()


class SheetRead(db.Model):  # type: ignore[name-defined]
    """When a teacher last opened a sheet; green title while learner_updated_at is later."""

    __tablename__ = "sheet_reads"

    sheet_id: Mapped[int] = mapped_column(
        ForeignKey("activity_sheets.id", ondelete="CASCADE"), primary_key=True
    )
    teacher_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(db.Model):  # type: ignore[name-defined]
    """A file (stored outside the web root under a random name) or a URL of a sheet."""

    __tablename__ = "attachments"
    __table_args__ = (CheckConstraint("kind in ('file', 'url')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(
        ForeignKey("activity_sheets.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(4))
    original_name: Mapped[str] = mapped_column(String(255), default="")
    stored_name: Mapped[str | None] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(120), default="")
    size: Mapped[int] = mapped_column(default=0)
    url: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sheet: Mapped[ActivitySheet] = relationship(back_populates="attachments")


journal_entry_tasks = db.Table(
    "journal_entry_tasks",
    db.Column(
        "entry_id", db.ForeignKey("journal_entries.id", ondelete="CASCADE"), primary_key=True
    ),
    db.Column("task_id", db.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
)


class JournalEntry(db.Model):  # type: ignore[name-defined]
    """One day of the journal activité entreprise."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "entry_date"),
        CheckConstraint("hours >= 0 and hours <= 24", name="hours"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), index=True
    )
    entry_date: Mapped[date] = mapped_column()
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal(0))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    portfolio: Mapped[Portfolio] = relationship(back_populates="journal_entries")
    tasks: Mapped[list[Task]] = relationship(
        secondary=journal_entry_tasks, order_by="Task.position"
    )
