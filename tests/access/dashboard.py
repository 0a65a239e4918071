"""Dashboard area: the learner's dashboard and interim reviews. The level's teacher and the
learner themself read; only the teacher writes a review (403 for the learner, who knows the
page exists); tutors and everyone else get 404."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.access import Case, only

READERS = only({"teacher": 200, "learner": 200})


def _review(w: Any, f: Any) -> None:
    from app.models import InterimReview

    w.review = InterimReview(
        learner_id=w.learner.id, teacher_id=w.teacher.id, review_date=date(2026, 12, 1), comment=""
    )
    f.s.add(w.review)
    f.s.flush()


def _base(path: str = "") -> Any:
    return lambda w: f"/apprenants/{w.learner.id}{path}"


def _position(w: Any) -> dict[str, str]:
    competency = w.level.framework.competencies[0]
    return {"review_date": "2026-12-01", f"pos-{competency.id}": "3"}


CASES = [
    Case("dashboard.page", "GET", _base("/tableau-de-bord"), READERS),
    Case(
        "dashboard.page",
        "GET",
        lambda w: f"/apprenants/{w.other_learner.id}/tableau-de-bord",
        only({}),
        note="another level's learner",
    ),
    Case("dashboard.reviews", "GET", _base("/bilans-intermediaires"), READERS),
    Case(
        "dashboard.new_review",
        "GET",
        _base("/bilans-intermediaires/nouveau"),
        only({"teacher": 200, "learner": 403}),
    ),
    Case(
        "dashboard.create_review",
        "POST",
        _base("/bilans-intermediaires/nouveau"),
        only({"teacher": 303, "learner": 403}),
        data=_position,
    ),
    Case(
        "dashboard.review",
        "GET",
        lambda w: f"/apprenants/{w.learner.id}/bilans-intermediaires/{w.review.id}",
        READERS,
        setup=_review,
    ),
    Case(
        "dashboard.review",
        "GET",
        lambda w: f"/apprenants/{w.classmate.id}/bilans-intermediaires/{w.review.id}",
        only({}, 404),
        setup=_review,
        note="a review seen through another learner's URL",
    ),
]
