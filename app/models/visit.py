"""Company visits of the referent teacher: one Visit per portfolio, and its short report."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.period import Portfolio
    from app.models.user import User


class VisitStatus(StrEnum):
    TO_PLAN = "to_plan"
    PLANNED = "planned"
    DONE = "done"
    REPORT_WRITTEN = "report_written"


VISIT_STATUS_LABELS = {
    VisitStatus.TO_PLAN: "À planifier",
    VisitStatus.PLANNED: "Planifiée",
    VisitStatus.DONE: "Effectuée",
    VisitStatus.REPORT_WRITTEN: "Compte rendu écrit",
}


def new_uid() -> str:
    return f"visite-{uuid.uuid4()}@passerelle"


class Visit(db.Model):  # type: ignore[name-defined]
    """The visit of a learner's company during a period. A portfolio without a Visit row has a
    visit still to plan. `uid` and `sequence` are those of the .ics invitation: the UID never
    changes, the sequence grows each time the visit moves or is cancelled."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint(
            "status in ('to_plan', 'planned', 'done', 'report_written')", name="visit_status"
        ),
        CheckConstraint("duration_minutes > 0 and duration_minutes <= 600", name="duration"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20), default=VisitStatus.TO_PLAN.value)
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(default=60)
    place: Mapped[str] = mapped_column(Text, default="")
    uid: Mapped[str] = mapped_column(String(100), unique=True, default=new_uid)
    sequence: Mapped[int] = mapped_column(default=0)
    # Set when a planned visit is cancelled: the start the cancellation (.ics) refers to.
    cancelled_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    portfolio: Mapped[Portfolio] = relationship()
    planned_by: Mapped[User | None] = relationship()

    @property
    def planned_end(self) -> datetime | None:
        if self.planned_start is None:
            return None
        return self.planned_start + timedelta(minutes=self.duration_minutes)

    @property
    def status_label(self) -> str:
        return VISIT_STATUS_LABELS[VisitStatus(self.status)]


class VisitReport(db.Model):  # type: ignore[name-defined]
    """Compte rendu de visite: lives with the portfolio, read by the learner's teachers."""

    __tablename__ = "visit_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), unique=True
    )
    done_on: Mapped[date] = mapped_column()
    met: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[str] = mapped_column(Text, default="")
    points_to_watch: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    portfolio: Mapped[Portfolio] = relationship()
    author: Mapped[User | None] = relationship()
