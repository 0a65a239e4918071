"""The school, its levels and its classes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db

if TYPE_CHECKING:
    from app.models.framework import Framework
    from app.models.user import Learner, Teacher


class School(db.Model):  # type: ignore[name-defined]
    """The one school of this instance (a multi-school install is a later step)."""

    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uai: Mapped[str | None] = mapped_column(String(8))  # French school identifier (RNE/UAI)
    address: Mapped[str] = mapped_column(Text, default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    logo_file: Mapped[str | None] = mapped_column(String(80))  # stored name under UPLOAD_DIR
    stamp_file: Mapped[str | None] = mapped_column(String(80))
    # Signs the conventions of PFMP (chef d'établissement).
    head_name: Mapped[str] = mapped_column(String(160), default="", server_default="")


teacher_levels = db.Table(
    "teacher_levels",
    db.Column("teacher_id", db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    db.Column("level_id", db.ForeignKey("levels.id", ondelete="CASCADE"), primary_key=True),
)


class Level(db.Model):  # type: ignore[name-defined]
    """A class level, e.g. "Terminale Bac Pro MELEC"; it prepares one diploma."""

    __tablename__ = "levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("frameworks.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(default=0)

    framework: Mapped[Framework] = relationship()
    class_groups: Mapped[list[ClassGroup]] = relationship(
        back_populates="level", order_by="ClassGroup.name"
    )
    teachers: Mapped[list[Teacher]] = relationship(
        secondary=teacher_levels, back_populates="levels"
    )


class ClassGroup(db.Model):  # type: ignore[name-defined]
    """A class (division), e.g. "TMELEC"."""

    __tablename__ = "class_groups"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    level_id: Mapped[int] = mapped_column(ForeignKey("levels.id", ondelete="RESTRICT"), index=True)

    level: Mapped[Level] = relationship(back_populates="class_groups")
    learners: Mapped[list[Learner]] = relationship(
        back_populates="class_group", order_by="Learner.last_name"
    )
