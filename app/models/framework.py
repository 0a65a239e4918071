"""The national reference framework of a diploma: activities → tasks → competencies → criteria.

A diploma has exactly one framework in force, so the diploma's identity (code, titles) lives on
the Framework row; see README "Design".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db

DEFAULT_SCALE: list[dict[str, str]] = [
    {"code": "NE", "label": "Non évalué", "color": "#9aa0a6"},
    {"code": "0", "label": "Non maîtrisé", "color": "#c62828"},
    {"code": "1", "label": "Insuffisant", "color": "#ef6c00"},
    {"code": "2", "label": "Fragile", "color": "#f9a825"},
    {"code": "3", "label": "Satisfaisant", "color": "#7cb342"},
    {"code": "4", "label": "Très bien maîtrisé", "color": "#2e7d32"},
]

task_competencies = db.Table(
    "task_competencies",
    db.Column("task_id", db.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    db.Column(
        "competency_id", db.ForeignKey("competencies.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Framework(db.Model):  # type: ignore[name-defined]
    """A diploma and its référentiel (Diploma in the glossary)."""

    __tablename__ = "frameworks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # e.g. BACPRO-MELEC
    short_title: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(20), default="")
    family_code: Mapped[str | None] = mapped_column(String(20))
    family_title: Mapped[str | None] = mapped_column(Text)
    completeness: Mapped[str] = mapped_column(String(10), default="complete")
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Total weeks in a company the diploma requires (Bac Pro: 22), from the framework file.
    required_placement_weeks: Mapped[int | None] = mapped_column()

    blocks: Mapped[list[Block]] = relationship(
        back_populates="framework", order_by="Block.position", cascade="all, delete-orphan"
    )
    activities: Mapped[list[Activity]] = relationship(
        back_populates="framework", order_by="Activity.position", cascade="all, delete-orphan"
    )
    competencies: Mapped[list[Competency]] = relationship(
        back_populates="framework", order_by="Competency.position", cascade="all, delete-orphan"
    )
    scale: Mapped[list[ScaleLevel]] = relationship(
        back_populates="framework", order_by="ScaleLevel.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("completeness in ('complete', 'partial')", name="completeness"),
    )


class Block(db.Model):  # type: ignore[name-defined]
    """A pôle / bloc de compétences grouping activities."""

    __tablename__ = "framework_blocks"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)

    framework: Mapped[Framework] = relationship(back_populates="blocks")


class Activity(db.Model):  # type: ignore[name-defined]
    __tablename__ = "activities"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    block_id: Mapped[int | None] = mapped_column(
        ForeignKey("framework_blocks.id", ondelete="SET NULL")
    )
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)

    framework: Mapped[Framework] = relationship(back_populates="activities")
    block: Mapped[Block | None] = relationship()
    tasks: Mapped[list[Task]] = relationship(
        back_populates="activity", order_by="Task.position", cascade="all, delete-orphan"
    )


class Task(db.Model):  # type: ignore[name-defined]
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)

    activity: Mapped[Activity] = relationship(back_populates="tasks")
    competencies: Mapped[list[Competency]] = relationship(
        secondary=task_competencies, back_populates="tasks", order_by="Competency.position"
    )


class Competency(db.Model):  # type: ignore[name-defined]
    __tablename__ = "competencies"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)

    framework: Mapped[Framework] = relationship(back_populates="competencies")
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="competency", order_by="Criterion.position", cascade="all, delete-orphan"
    )
    tasks: Mapped[list[Task]] = relationship(
        secondary=task_competencies, back_populates="competencies", order_by="Task.position"
    )


class Criterion(db.Model):  # type: ignore[name-defined]
    __tablename__ = "criteria"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    competency_id: Mapped[int] = mapped_column(
        ForeignKey("competencies.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)

    competency: Mapped[Competency] = relationship(back_populates="criteria")


class ScaleLevel(db.Model):  # type: ignore[name-defined]
    """One of the six ordered levels of the framework's rating scale (réglette)."""

    __tablename__ = "scale_levels"
    __table_args__ = (
        UniqueConstraint("framework_id", "position"),
        UniqueConstraint("framework_id", "code"),
        CheckConstraint("position >= 0 and position < 6", name="six_levels"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    code: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(60))
    color: Mapped[str] = mapped_column(String(9))

    framework: Mapped[Framework] = relationship(back_populates="scale")
