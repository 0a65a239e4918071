"""Accounts. One table, one subclass per role (single-table inheritance), so that
Flask-Login loads any user with one query and each role has its own typed attributes."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.school import teacher_levels

if TYPE_CHECKING:
    from app.models.school import ClassGroup, Level


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    LEARNER = "learner"
    TUTOR = "tutor"


class LearnerStatus(StrEnum):
    PUPIL = "pupil"  # sous statut scolaire
    APPRENTICE = "apprentice"


class TutorKind(StrEnum):
    INTERNSHIP = "internship"  # tuteur de stage (created by the referent teacher)
    APPRENTICESHIP = "apprenticeship"  # maître d'apprentissage (created by the admin)


STATUS_LABELS = {LearnerStatus.PUPIL: "élève", LearnerStatus.APPRENTICE: "apprenti"}
TUTOR_KIND_LABELS = {
    TutorKind.INTERNSHIP: "Tuteur de stage",
    TutorKind.APPRENTICESHIP: "Maître d'apprentissage",
}
ROLE_LABELS = {
    Role.ADMIN: "Administrateur",
    Role.TEACHER: "Enseignant",
    Role.LEARNER: "Apprenant",
    Role.TUTOR: "Formateur en entreprise",
}


class User(db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email"),
        UniqueConstraint("external_id"),
        CheckConstraint("role in ('admin', 'teacher', 'learner', 'tutor')", name="role"),
        CheckConstraint(
            "learner_status is null or learner_status in ('pupil', 'apprentice')",
            name="learner_status",
        ),
        CheckConstraint(
            "tutor_kind is null or tutor_kind in ('internship', 'apprenticeship')",
            name="tutor_kind",
        ),
        Index("ix_users_role_name", "role", "last_name", "first_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(10))
    # Lower-cased; optional for learners imported without one (they cannot sign in yet).
    email: Mapped[str | None] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str] = mapped_column(String(30), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active_account: Mapped[bool] = mapped_column(default=True)
    # Bumped on logout-everywhere, password change and deactivation: every cookie that
    # carries an older value is refused (see auth).
    session_version: Mapped[int] = mapped_column(default=1)
    # Stable key from an import (school information system id, or name+birth date).
    external_id: Mapped[str | None] = mapped_column(String(120))
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"polymorphic_on": "role", "polymorphic_identity": "user"}

    # -- Flask-Login protocol --------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.is_active_account and self.anonymised_at is None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    # -- display -----------------------------------------------------------------------------
    @property
    def full_name(self) -> str:
        """ "Inès GARAY": first name, then family name in capitals, as schools write it."""
        return f"{self.first_name} {self.last_name.upper()}"

    @property
    def sort_name(self) -> str:
        return f"{self.last_name.upper()} {self.first_name}"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(Role(self.role), self.role)


class Admin(User):
    __mapper_args__ = {"polymorphic_identity": Role.ADMIN.value}


class Teacher(User):
    __mapper_args__ = {"polymorphic_identity": Role.TEACHER.value}

    levels: Mapped[list[Level]] = relationship(
        secondary=teacher_levels, back_populates="teachers", order_by="Level.position"
    )


class Learner(User):
    __mapper_args__ = {"polymorphic_identity": Role.LEARNER.value}

    learner_status: Mapped[str | None] = mapped_column(String(10))
    birth_date: Mapped[date | None] = mapped_column()
    class_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("class_groups.id", ondelete="SET NULL"), index=True
    )
    class_group: Mapped[ClassGroup | None] = relationship(back_populates="learners")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(LearnerStatus(self.learner_status or "pupil"), "")

    @property
    def class_name(self) -> str:
        return self.class_group.name if self.class_group else ""


class Tutor(User):
    __mapper_args__ = {"polymorphic_identity": Role.TUTOR.value}

    tutor_kind: Mapped[str | None] = mapped_column(String(15))
    company_name: Mapped[str] = mapped_column(String(200), default="", nullable=True)
    job_title: Mapped[str] = mapped_column(String(120), default="", nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def is_master(self) -> bool:
        return self.tutor_kind == TutorKind.APPRENTICESHIP

    @property
    def kind_label(self) -> str:
        return TUTOR_KIND_LABELS.get(TutorKind(self.tutor_kind or "internship"), "")


class Invitation(db.Model):  # type: ignore[name-defined]
    """A one-time link that lets a tutor set a password. Only the token's hash is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class LoginAttempt(db.Model):  # type: ignore[name-defined]
    """Failed sign-ins, kept in the database so throttling holds across worker processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))  # "email:<addr>" or "ip:<addr>"
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
