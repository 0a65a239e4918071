"""Visits and notifications (issue 16): the referent teacher plans and reports; the level's
teachers read the report; the tutor and the learner see the visit and download its .ics;
everyone but the admin chooses their notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.access import Case, everyone, only

PLANNER = only({"teacher": 303, "learner": 403, "tutor": 403})
READER = only({"teacher": 200, "learner": 403, "tutor": 403})


def _future_period(w: Any, f: Any) -> None:
    today = datetime.now(UTC).date()
    w.period.start_date = today + timedelta(days=7)
    w.period.end_date = today + timedelta(days=40)
    f.s.flush()


def _planned(w: Any, f: Any) -> None:
    from app.models import Visit

    _future_period(w, f)
    start = datetime.combine(w.period.start_date + timedelta(days=1), datetime.min.time(), UTC)
    w.visit = Visit(
        portfolio_id=w.portfolio.id, status="planned", planned_start=start + timedelta(hours=9)
    )
    f.s.add(w.visit)
    f.s.flush()


def _plan_data(w: Any) -> dict[str, Any]:
    return {
        "day": (w.period.start_date + timedelta(days=2)).isoformat(),
        "start_time": "10:00",
        "duration": "60",
        "place": "12 rue de la Gare\n35000 Rennes",
    }


def _report_data(w: Any) -> dict[str, Any]:
    return {
        "day": (w.period.start_date + timedelta(days=3)).isoformat(),
        "met": "M. Martin, tuteur",
        "conditions": "Bon accueil.",
        "points_to_watch": "Ponctualité.",
    }


def _portfolio_url(suffix: str = "") -> Any:
    return lambda w: f"/portfolios/{w.portfolio.id}/visite{suffix}"


API = {"anonymous": 401, "admin": 403}

CASES = [
    Case("visits.index", "GET", lambda w: "/mes-visites", only({"teacher": 200}, denied=403)),
    Case("visits.plan", "GET", _portfolio_url(), READER),
    Case(
        "visits.plan",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/visite",
        only({}),
        note="another level's portfolio",
    ),
    Case(
        "visits.save_plan",
        "POST",
        _portfolio_url(),
        PLANNER,
        data=_plan_data,
        setup=_future_period,
    ),
    Case(
        "visits.cancel",
        "POST",
        _portfolio_url("/annuler"),
        PLANNER,
        data=lambda w: {},
        setup=_planned,
    ),
    Case(
        "visits.done",
        "POST",
        _portfolio_url("/effectuee"),
        PLANNER,
        data=lambda w: {},
        setup=_planned,
    ),
    Case("visits.report", "GET", _portfolio_url("/compte-rendu"), READER),
    Case("visits.save_report", "POST", _portfolio_url("/compte-rendu"), PLANNER, data=_report_data),
    Case(
        "visits.ics",
        "GET",
        _portfolio_url(".ics"),
        only({"teacher": 200, "learner": 200, "tutor": 200}),
        setup=_planned,
    ),
    Case(
        "visits.ics",
        "GET",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/visite.ics",
        only({"teacher": 404, "master": 404}),
        note="no visit planned",
    ),
    Case(
        "notifications.preferences",
        "GET",
        lambda w: "/compte/notifications",
        everyone(200, admin=403),
    ),
    Case(
        "notifications.save_preferences",
        "POST",
        lambda w: "/compte/notifications",
        everyone(303, admin=403),
        data=lambda w: {"kinds": []},
    ),
    Case(
        "notifications.subscribe",
        "POST",
        lambda w: "/api/push/abonnement",
        everyone(200, **API),
        json=True,
        data=lambda w: {
            "endpoint": "https://push.example.test/send/abc",
            "keys": {"p256dh": "BPub", "auth": "secret"},
        },
    ),
    Case(
        "notifications.unsubscribe",
        "POST",
        lambda w: "/api/push/desabonnement",
        everyone(200, **API),
        json=True,
        data=lambda w: {"endpoint": "https://push.example.test/send/abc"},
    ),
]
