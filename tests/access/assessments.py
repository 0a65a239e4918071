"""Assessment area (/portfolios/<pid>/bilan…): the level's teacher and the portfolio's tutor
rate; the learner reads a completed assessment; everyone else gets 404. Only the teacher
completes, reopens and settles conflicts (403 for the tutor, who may know it exists)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tests.access import LOGIN, Case, only

RATERS = {"teacher": 200, "tutor": 200}
SAVED = {"teacher": 303, "tutor": 303}  # a form without htmx: redirect back to the page


def _bilan(path: str = "") -> Any:
    return lambda w: f"/portfolios/{w.portfolio.id}/bilan{path}"


def _competency_id(w: Any) -> int:
    return int(w.level.framework.competencies[0].id)


def _completed(w: Any, f: Any) -> None:
    from app.services import assessments

    assessments.complete(w.assessment, w.teacher)


def _conflict(w: Any, f: Any) -> None:
    from app.services import assessments

    key = f"competency:{_competency_id(w)}"
    assessments.record_change(
        w.assessment,
        w.teacher,
        key,
        "3",
        device_time=datetime(2026, 6, 20, 12, tzinfo=UTC),
        change_uuid=str(uuid.uuid4()),
    )
    assessments.record_change(
        w.assessment,
        w.tutor,
        key,
        "1",
        base_version=0,
        device_time=datetime(2026, 6, 20, 9, tzinfo=UTC),
        change_uuid=str(uuid.uuid4()),
    )


CASES = [
    Case("assessments.page", "GET", _bilan(), only(RATERS)),
    Case(
        "assessments.page",
        "GET",
        _bilan(),
        only({**RATERS, "learner": 200}),
        setup=_completed,
        note="completed: the learner reads it",
    ),
    Case(
        "assessments.page",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/bilan",
        only({}),
        note="another level's portfolio",
    ),
    Case("assessments.save_all", "POST", _bilan(), only(SAVED), data=lambda w: {}),
    Case(
        "assessments.save_all",
        "POST",
        _bilan(),
        only({"teacher": 409, "tutor": 409, "learner": 403}),
        data=lambda w: {"comment": "Bien"},
        setup=_completed,
        note="completed",
    ),
    Case("assessments.item", "GET", _bilan("/items/comment"), only(RATERS)),
    Case(
        "assessments.save_item",
        "POST",
        _bilan("/items/comment"),
        only(SAVED),
        data=lambda w: {"value": "Très bonne implication."},
    ),
    Case(
        "assessments.save_item",
        "POST",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/bilan/items/comment",
        only({"teacher": 303, "master": 303}),
        data=lambda w: {"value": "Bien"},
        note="the classmate's portfolio: the master's mentee",
    ),
    Case(
        "assessments.history",
        "GET",
        _bilan("/items/engagement/historique"),
        only(RATERS),
    ),
    Case(
        "assessments.resolve",
        "POST",
        lambda w: (
            f"/portfolios/{w.portfolio.id}/bilan/items/competency:{_competency_id(w)}/conflit"
        ),
        only({"teacher": 303, "tutor": 403}),
        data=lambda w: {"keep": "1"},
        setup=_conflict,
    ),
    Case(
        "assessments.mode",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/bilan/competences/{_competency_id(w)}/mode",
        only(SAVED),
        data=lambda w: {"mode": "criteria"},
    ),
    Case(
        "assessments.complete", "POST", _bilan("/completer"), only({"teacher": 303, "tutor": 403})
    ),
    Case(
        "assessments.reopen",
        "POST",
        _bilan("/rouvrir"),
        only({"teacher": 303, "tutor": 403, "learner": 403}),
        setup=_completed,
    ),
    Case(
        "assessments.scale_css",
        "GET",
        lambda w: f"/bilans/echelle-{w.level.framework_id}.css",
        {
            "anonymous": LOGIN,
            "admin": 200,
            "teacher": 200,
            "learner": 200,
            "tutor": 200,
            "master": 200,
        },
    ),
]
