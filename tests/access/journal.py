"""Journal area: the learner keeps it; the level's teacher and the portfolio's tutor read it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.access import Case, only

READERS = only({"teacher": 200, "learner": 200, "tutor": 200})
WRITER = only({"learner": 303, "teacher": 403, "tutor": 403})


def _with_entry(w: Any, f: Any) -> None:
    from decimal import Decimal

    from app.models import JournalEntry

    w.entry = JournalEntry(
        portfolio_id=w.portfolio.id,
        entry_date=w.period.start_date,
        hours=Decimal("7.5"),
        description="Câblage d'un tableau.",
    )
    f.s.add(w.entry)
    f.s.flush()


def _day(w: Any, offset: int = 1) -> dict[str, Any]:
    return {
        "entry_date": (w.period.start_date + timedelta(days=offset)).isoformat(),
        "hours": "7,5",
        "description": "Pose de goulottes.",
    }


CASES = [
    Case("journal.index", "GET", lambda w: f"/portfolios/{w.portfolio.id}/journal", READERS),
    Case(
        "journal.index",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/journal",
        only({}),
        note="another level's portfolio",
    ),
    Case(
        "journal.create",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/journal",
        WRITER,
        data=_day,
    ),
    Case(
        "journal.edit",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/journal/{w.entry.id}",
        only({"learner": 200, "teacher": 403, "tutor": 403}),
        setup=_with_entry,
    ),
    Case(
        "journal.edit",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/journal/{w.entry.id}",
        WRITER,
        setup=_with_entry,
        data=lambda w: _day(w, 0),
    ),
    Case(
        "journal.edit",
        "GET",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/journal/{w.entry.id}",
        only({"teacher": 404, "master": 404}),
        setup=_with_entry,
        note="entry through another portfolio's URL",
    ),
    Case(
        "journal.delete",
        "POST",
        lambda w: f"/portfolios/{w.portfolio.id}/journal/{w.entry.id}/supprimer",
        WRITER,
        setup=_with_entry,
        data=lambda w: {},
    ),
]
