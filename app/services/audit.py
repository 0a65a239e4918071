"""The audit log: one verb, `record`, called by the services that change audited data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import AuditLog, User


def record(
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int | None,
    *,
    learner_id: int | None = None,
    **details: Any,
) -> AuditLog:
    entry = AuditLog(
        actor_id=actor.id if actor is not None else None,
        actor_label=f"{actor.full_name} ({actor.role_label})" if actor is not None else "système",
        action=action,
        object_type=object_type,
        object_id=object_id,
        learner_id=learner_id,
        details=details,
    )
    db.session.add(entry)
    return entry


# --- reading the log (admin page, and an assessment's history for its teacher) --------------
# Appended by the admin area (issue 9); kept here so the log is read and written in one place.

AUDIT_PER_PAGE = 50


@dataclass
class AuditRow:
    entry: AuditLog
    learner_name: str | None


@dataclass
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    per_page: int
    actions: list[str] = field(default_factory=list)
    object_types: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_entries(
    *,
    action: str = "",
    object_type: str = "",
    object_id: int | None = None,
    learner_id: int | None = None,
    page: int = 1,
    per_page: int = AUDIT_PER_PAGE,
) -> AuditPage:
    """A page of the log, newest first, filtered; four queries whatever the filters."""
    learner = aliased(User)
    # PostgreSQL refuses NUL characters in text parameters: such a filter matches nothing.
    action, object_type = action.replace("\x00", ""), object_type.replace("\x00", "")
    conditions = []
    if action:
        conditions.append(AuditLog.action == action)
    if object_type:
        conditions.append(AuditLog.object_type == object_type)
    if object_id is not None:
        conditions.append(AuditLog.object_id == object_id)
    if learner_id is not None:
        conditions.append(AuditLog.learner_id == learner_id)
    total = db.session.scalar(select(func.count(AuditLog.id)).where(*conditions)) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = db.session.execute(
        select(AuditLog, learner)
        .outerjoin(learner, learner.id == AuditLog.learner_id)
        .where(*conditions)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    actions = list(db.session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))
    types = list(
        db.session.scalars(select(AuditLog.object_type).distinct().order_by(AuditLog.object_type))
    )
    return AuditPage(
        rows=[AuditRow(entry, who.full_name if who is not None else None) for entry, who in rows],
        total=total,
        page=page,
        per_page=per_page,
        actions=actions,
        object_types=types,
    )


def audit_entries_for_assessment(assessment_id: int) -> list[AuditLog]:
    """The log entries about one assessment (created, completed, reopened…), oldest first."""
    return list(
        db.session.scalars(
            select(AuditLog)
            .where(AuditLog.object_type == "assessment", AuditLog.object_id == assessment_id)
            .order_by(AuditLog.at, AuditLog.id)
        )
    )


@dataclass
class ItemChangeRow:
    change: Any  # AssessmentItemChange
    item_key: str
    kind: str
    code: str | None  # criterion or competency code
    author: str | None
    value: str | None  # shown value: a rating's scale label, the stars, the text
    previous: str | None


def item_changes_for_assessment(assessment_id: int) -> list[ItemChangeRow]:
    """Every change made to the items of an assessment (ratings, stars, date, comment), with
    who made it: the assessment's own history, oldest first, in two queries."""
    from app.models import (
        Assessment,
        AssessmentItem,
        AssessmentItemChange,
        Competency,
        Criterion,
        Level,
        Period,
        Portfolio,
        ScaleLevel,
    )

    scale = dict(
        db.session.execute(
            select(ScaleLevel.code, ScaleLevel.label)
            .join(Level, Level.framework_id == ScaleLevel.framework_id)
            .join(Period, Period.level_id == Level.id)
            .join(Portfolio, Portfolio.period_id == Period.id)
            .join(Assessment, Assessment.portfolio_id == Portfolio.id)
            .where(Assessment.id == assessment_id)
        ).all()
    )
    author = aliased(User)
    rows = db.session.execute(
        select(AssessmentItemChange, AssessmentItem, author, Competency.code, Criterion.code)
        .join(AssessmentItem, AssessmentItem.id == AssessmentItemChange.item_id)
        .outerjoin(author, author.id == AssessmentItemChange.author_id)
        .outerjoin(Competency, Competency.id == AssessmentItem.competency_id)
        .outerjoin(Criterion, Criterion.id == AssessmentItem.criterion_id)
        .where(AssessmentItem.assessment_id == assessment_id)
        .order_by(AssessmentItemChange.server_time, AssessmentItemChange.id)
    ).all()

    def shown(kind: str, value: str | None) -> str | None:
        if value is not None and kind in ("criterion", "competency") and value in scale:
            return f"{value} · {scale[value]}"
        if value is not None and kind == "engagement":
            return "★" * int(value) if value.isdigit() and int(value) <= 4 else value
        return value

    return [
        ItemChangeRow(
            change=change,
            item_key=item.item_key,
            kind=item.kind,
            code=criterion_code or competency_code,
            author=who.full_name if who is not None else None,
            value=shown(item.kind, change.value),
            previous=shown(item.kind, change.previous_value),
        )
        for change, item, who, competency_code, criterion_code in rows
    ]
