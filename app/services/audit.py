"""The audit log: one verb, `record`, called by the services that change audited data."""

from __future__ import annotations

from typing import Any

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
