"""The legal paperwork of a PFMP, per portfolio (learner × period): the convention and its
signatures, and the attestation (days actually done, absences) at the end of the period."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.period import Portfolio
    from app.models.user import User


class ConventionState(StrEnum):
    """The signatures are collected in this order on the paper."""

    TO_SIGN = "to_sign"
    SIGNED_BY_COMPANY = "signed_by_company"
    SIGNED_BY_FAMILY = "signed_by_family"
    SIGNED_BY_HEAD = "signed_by_head"


CONVENTION_STATES = tuple(ConventionState)
STATE_LABELS = {
    ConventionState.TO_SIGN: "À signer",
    ConventionState.SIGNED_BY_COMPANY: "Signée par l'entreprise",
    ConventionState.SIGNED_BY_FAMILY: "Signée par la famille",
    ConventionState.SIGNED_BY_HEAD: "Signée par le chef d'établissement",
}


class Convention(db.Model):  # type: ignore[name-defined]
    """Convention de PFMP of one learner for one period. Each signature step keeps the date
    written on the paper, who recorded it and when; a scan of the signed paper may be kept."""

    __tablename__ = "conventions"
    __table_args__ = (
        CheckConstraint(
            "state in ('to_sign', 'signed_by_company', 'signed_by_family', 'signed_by_head')",
            name="state",
        ),
        CheckConstraint(
            "weekly_hours is null or (weekly_hours > 0 and weekly_hours <= 48)",
            name="weekly_hours",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(20), default=ConventionState.TO_SIGN)
    # The parties not on the liaison sheet.
    company_representative: Mapped[str] = mapped_column(String(160), default="")
    company_representative_role: Mapped[str] = mapped_column(String(120), default="")
    guardian_name: Mapped[str] = mapped_column(String(160), default="")
    guardian_address: Mapped[str] = mapped_column(Text, default="")
    guardian_phone: Mapped[str] = mapped_column(String(30), default="")
    guardian_email: Mapped[str] = mapped_column(String(254), default="")
    # Dates and hours.
    daily_schedule: Mapped[str] = mapped_column(Text, default="")
    weekly_hours: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    # Financial annex.
    transport: Mapped[str] = mapped_column(Text, default="")
    meals: Mapped[str] = mapped_column(Text, default="")
    lodging: Mapped[str] = mapped_column(Text, default="")
    # Insurance (civil liability of the company and of the school).
    company_insurer: Mapped[str] = mapped_column(String(200), default="")
    company_policy: Mapped[str] = mapped_column(String(80), default="")
    school_insurer: Mapped[str] = mapped_column(String(200), default="")
    # Signatures: the date on the paper, who recorded it, when.
    company_signed_on: Mapped[date | None] = mapped_column()
    company_recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    company_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    family_signed_on: Mapped[date | None] = mapped_column()
    family_recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    family_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    head_signed_on: Mapped[date | None] = mapped_column()
    head_recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    head_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Scan of the signed paper (stored like sheet attachments, outside the web root).
    scan_stored_name: Mapped[str | None] = mapped_column(String(80), unique=True)
    scan_original_name: Mapped[str] = mapped_column(String(255), default="")
    scan_content_type: Mapped[str] = mapped_column(String(120), default="")
    scan_size: Mapped[int] = mapped_column(default=0)
    scan_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scan_uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    portfolio: Mapped[Portfolio] = relationship()
    company_recorded_by: Mapped[User | None] = relationship(foreign_keys=[company_recorded_by_id])
    family_recorded_by: Mapped[User | None] = relationship(foreign_keys=[family_recorded_by_id])
    head_recorded_by: Mapped[User | None] = relationship(foreign_keys=[head_recorded_by_id])

    @property
    def is_signed(self) -> bool:
        return self.state == ConventionState.SIGNED_BY_HEAD

    @property
    def state_label(self) -> str:
        return STATE_LABELS[ConventionState(self.state)]


class Attestation(db.Model):  # type: ignore[name-defined]
    """Attestation de PFMP: the days actually done and the absences, recorded at the end of
    the period by the tutor (from their phone) or the teacher, then signed."""

    __tablename__ = "attestations"
    __table_args__ = (
        CheckConstraint("days_done >= 0 and days_done <= 366", name="days_done"),
        CheckConstraint("absence_days >= 0 and absence_days <= 366", name="absence_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), unique=True
    )
    days_done: Mapped[int] = mapped_column(default=0)
    absence_days: Mapped[int] = mapped_column(default=0)
    absence_dates: Mapped[str] = mapped_column(Text, default="")  # ISO dates, one per line
    absence_reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    signer_name: Mapped[str] = mapped_column(String(160), default="")
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    portfolio: Mapped[Portfolio] = relationship()
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
    signed_by: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def absence_date_list(self) -> list[date]:
        return [date.fromisoformat(line) for line in self.absence_dates.split() if line]
