"""Company assessment (bilan entreprise), its rated items with history, interim reviews.

Everything an assessor can change is an *item* with a key: a rating of a criterion
("criterion:<id>") or of a whole competency ("competency:<id>"), the engagement stars
("engagement"), the meeting date ("meeting_date") and the comment ("comment"). Items are the
unit of offline sync: each has a version, and changes to different items never conflict.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.period import Portfolio
    from app.models.user import Learner, Teacher, User


class AssessmentStatus:
    DRAFT = "draft"
    COMPLETED = "completed"


class ItemKind:
    CRITERION = "criterion"
    COMPETENCY = "competency"
    ENGAGEMENT = "engagement"
    MEETING_DATE = "meeting_date"
    COMMENT = "comment"


class Assessment(db.Model):  # type: ignore[name-defined]
    __tablename__ = "assessments"
    __table_args__ = (CheckConstraint("status in ('draft', 'completed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(10), default=AssessmentStatus.DRAFT)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    portfolio: Mapped[Portfolio] = relationship(back_populates="assessment")
    items: Mapped[list[AssessmentItem]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan", passive_deletes=True
    )
    modes: Mapped[list[AssessmentCompetencyMode]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_completed(self) -> bool:
        return self.status == AssessmentStatus.COMPLETED


class AssessmentCompetencyMode(db.Model):  # type: ignore[name-defined]
    """The assessor's choice for one competency: rate its criteria, or the competency as a
    whole. Absent: the default follows the teacher's choices on the sheets."""

    __tablename__ = "assessment_competency_modes"
    __table_args__ = (CheckConstraint("mode in ('global', 'criteria')", name="mode"),)

    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True
    )
    competency_id: Mapped[int] = mapped_column(
        ForeignKey("competencies.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(10))


class AssessmentItem(db.Model):  # type: ignore[name-defined]
    """The current value of one item of an assessment, with who set it and when."""

    __tablename__ = "assessment_items"
    __table_args__ = (
        UniqueConstraint("assessment_id", "item_key"),
        CheckConstraint(
            "kind in ('criterion', 'competency', 'engagement', 'meeting_date', 'comment')",
            name="kind",
        ),
        CheckConstraint("author_role is null or author_role in ('teacher', 'tutor')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("assessments.id", ondelete="CASCADE"), index=True
    )
    item_key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(15))
    competency_id: Mapped[int | None] = mapped_column(
        ForeignKey("competencies.id", ondelete="CASCADE"), index=True
    )
    criterion_id: Mapped[int | None] = mapped_column(
        ForeignKey("criteria.id", ondelete="CASCADE"), index=True
    )
    # Ratings hold the scale level code ("NE", "0"…"4"); engagement "1"…"4"; date ISO;
    # comment text. None means cleared.
    value: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=0)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_role: Mapped[str | None] = mapped_column(String(10))
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    server_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when an offline change met a concurrent one: the losing value waits for the
    # teacher to keep the winner or restore it.
    conflict: Mapped[bool] = mapped_column(default=False)
    conflict_value: Mapped[str | None] = mapped_column(Text)
    conflict_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("assessment_item_changes.id", ondelete="SET NULL", use_alter=True)
    )

    assessment: Mapped[Assessment] = relationship(back_populates="items")
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    history: Mapped[list[AssessmentItemChange]] = relationship(
        back_populates="item",
        order_by="AssessmentItemChange.id",
        foreign_keys="AssessmentItemChange.item_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class AssessmentItemChange(db.Model):  # type: ignore[name-defined]
    """Every change ever made to an item, online or synced, applied or not (history)."""

    __tablename__ = "assessment_item_changes"
    __table_args__ = (
        Index("ix_item_changes_item", "item_id", "id"),
        CheckConstraint(
            "outcome in ('applied', 'superseded', 'conflict', 'restored', 'rejected')",
            name="outcome",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("assessment_items.id", ondelete="CASCADE"))
    # Client-generated UUID for offline changes; server-generated for online ones.
    change_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    value: Mapped[str | None] = mapped_column(Text)
    previous_value: Mapped[str | None] = mapped_column(Text)
    base_version: Mapped[int | None] = mapped_column()
    resulting_version: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(String(12), default="applied")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_role: Mapped[str | None] = mapped_column(String(10))
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    server_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    via_sync: Mapped[bool] = mapped_column(default=False)

    item: Mapped[AssessmentItem] = relationship(back_populates="history", foreign_keys=[item_id])
    author: Mapped[User | None] = relationship()


class SyncReceipt(db.Model):  # type: ignore[name-defined]
    """The answer given to one offline change, kept so a replay returns the same receipt."""

    __tablename__ = "sync_receipts"

    change_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    payload_hash: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


interim_review_assessments = db.Table(
    "interim_review_assessments",
    db.Column(
        "review_id", db.ForeignKey("interim_reviews.id", ondelete="CASCADE"), primary_key=True
    ),
    db.Column(
        "assessment_id", db.ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True
    ),
)


class InterimReview(db.Model):  # type: ignore[name-defined]
    """Bilan intermédiaire de compétences: a teacher's positioning of a learner at a date."""

    __tablename__ = "interim_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    teacher_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    review_date: Mapped[date] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    learner: Mapped[Learner] = relationship(foreign_keys=[learner_id])
    teacher: Mapped[Teacher | None] = relationship(foreign_keys=[teacher_id])
    positions: Mapped[list[InterimReviewPosition]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    assessments: Mapped[list[Assessment]] = relationship(secondary=interim_review_assessments)


class InterimReviewPosition(db.Model):  # type: ignore[name-defined]
    __tablename__ = "interim_review_positions"

    review_id: Mapped[int] = mapped_column(
        ForeignKey("interim_reviews.id", ondelete="CASCADE"), primary_key=True
    )
    competency_id: Mapped[int] = mapped_column(
        ForeignKey("competencies.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str | None] = mapped_column(String(10))  # scale level code
    comment: Mapped[str] = mapped_column(Text, default="")
