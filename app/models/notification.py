"""Reminders and invitations: per-user preferences, the record of every message sent (its
UNIQUE key makes `flask reminders send` idempotent), and Web Push subscriptions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class NotificationKind(StrEnum):
    SHEET_REMINDER = "sheet_reminder"  # learner: last week's sheet is still empty
    TEACHER_DIGEST = "teacher_digest"  # teacher: unread sheets per period, weekly
    VISIT_INVITATION = "visit_invitation"  # tutor, learner: the .ics when planned/moved/cancelled
    VISIT_REMINDER = "visit_reminder"  # tutor: the day before, with the assessment link


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"


class NotificationPreference(db.Model):  # type: ignore[name-defined]
    """A kind a user turned off (or back on). No row: the kind is on."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SentNotification(db.Model):  # type: ignore[name-defined]
    """One message to one person on one channel. `key` names what it is about (the sheet, the
    week, the visit and its sequence), so a second run finds it and sends nothing again; a row
    without `sent_at` failed (`error`) and is retried by the next run."""

    __tablename__ = "sent_notifications"
    __table_args__ = (
        UniqueConstraint("key", name="uq_sent_notifications_key"),
        CheckConstraint("channel in ('email', 'push')", name="channel"),
        Index("ix_sent_notifications_pending", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class PushSubscription(db.Model):  # type: ignore[name-defined]
    """A browser's Web Push subscription (endpoint and its public keys)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
