"""Live-update streams (SPEC F8): `/events/periodes/<id>` for a teacher's period view and
`/events/bilans/<id>` for an open assessment. Access is checked when the stream opens and
again for every event it carries (app/services/live.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app import access
from app.blueprints.events import sse
from app.extensions import db
from app.models import Assessment, Period
from app.services import events, live

bp = Blueprint("events", __name__, url_prefix="/events")


def _listener(topic: str, **context: Any) -> live.Listener:
    client = request.args.get("client") or ""
    return live.Listener(
        user_id=current_user.id,
        session_version=current_user.session_version,
        topic=topic,
        client_id=client if events.CLIENT_ID.match(client) else None,
        **context,
    )


@bp.get("/periodes/<int:period_id>")
@login_required
def period_stream(period_id: int) -> Response:
    period = db.session.get(Period, period_id)
    access.ensure(period is not None and access.can_view_period(current_user, period))
    return sse.stream(_listener(f"period:{period_id}"))


@bp.get("/bilans/<int:assessment_id>")
@login_required
def assessment_stream(assessment_id: int) -> Response:
    assessment = db.session.get(Assessment, assessment_id)
    access.ensure(assessment is not None and access.can_view_assessment(current_user, assessment))
    assert assessment is not None
    portfolio = assessment.portfolio
    return sse.stream(
        _listener(
            f"assessment:{assessment_id}",
            related=(f"period:{portfolio.period_id}",),  # its sheets change the marks
            portfolio_id=portfolio.id,
        )
    )
