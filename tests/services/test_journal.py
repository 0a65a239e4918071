"""Journal service: one entry per day of the period, hours 0–24, optional framework tasks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.errors import InvalidInput, NotAllowed
from app.services import journal as svc


def test_learner_logs_days_of_the_period(f: Any) -> None:
    w = f.world()
    day = w.period.start_date
    tasks = w.level.framework.activities[0].tasks[:2]
    entry = svc.save_entry(
        w.portfolio, w.learner, entry=None, entry_date=day, hours="7,5",
        description="  Câblage d'une armoire.  ", task_ids=[t.id for t in tasks],
    )  # fmt: skip
    assert (entry.hours, entry.description) == (Decimal("7.50"), "Câblage d'une armoire.")
    assert [t.id for t in entry.tasks] == [t.id for t in tasks]
    svc.save_entry(
        w.portfolio, w.learner, entry=None, entry_date=day + timedelta(days=1), hours="8",
        description="Mise en service.",
    )  # fmt: skip
    journal = svc.Journal(w.portfolio, svc.load_entries(w.portfolio.id))
    assert [e.entry_date for e in journal.entries] == [day, day + timedelta(days=1)]
    assert journal.total_hours == Decimal("15.50")
    # Editing keeps its own day free.
    svc.save_entry(
        w.portfolio, w.learner, entry=entry, entry_date=day, hours=6, description="Modifié",
    )  # fmt: skip
    assert entry.hours == Decimal("6.00") and entry.tasks == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"offset": -1}, "Choisissez un jour de la période"),
        ({"offset": 40}, "Choisissez un jour de la période"),
        ({"hours": "25"}, "entre 0 et 24"),
        ({"hours": "-1"}, "entre 0 et 24"),
        ({"hours": "sept"}, "nombre d'heures"),
        ({"hours": "NaN"}, "entre 0 et 24"),
        ({"description": "   "}, "Décrivez"),
        ({"description": "x" * 5001}, "trop long"),
    ],
)
def test_bad_entries_are_refused(f: Any, changes: dict[str, Any], message: str) -> None:
    w = f.world()
    with pytest.raises(InvalidInput) as error:
        svc.save_entry(
            w.portfolio, w.learner, entry=None,
            entry_date=w.period.start_date + timedelta(days=changes.get("offset", 0)),
            hours=changes.get("hours", "7"),
            description=changes.get("description", "Travail"),
        )  # fmt: skip
    assert message in error.value.message


def test_one_entry_per_day_and_tasks_of_the_right_framework(f: Any) -> None:
    w = f.world()
    day = w.period.start_date
    svc.save_entry(w.portfolio, w.learner, entry=None, entry_date=day, hours="7", description="a")
    with pytest.raises(InvalidInput, match="déjà une entrée"):
        svc.save_entry(
            w.portfolio, w.learner, entry=None, entry_date=day, hours="7", description="b"
        )
    foreign = w.other_level.framework.activities[0].tasks[0]
    with pytest.raises(InvalidInput, match="Tâche"):
        svc.save_entry(
            w.portfolio, w.learner, entry=None, entry_date=day + timedelta(days=1), hours="7",
            description="c", task_ids=[foreign.id],
        )  # fmt: skip


def test_only_the_learner_writes(f: Any) -> None:
    w = f.world()
    for user in (w.teacher, w.tutor, w.classmate):
        with pytest.raises(NotAllowed):
            svc.save_entry(
                w.portfolio, user, entry=None, entry_date=w.period.start_date, hours="1",
                description="x",
            )  # fmt: skip


def test_format_hours() -> None:
    assert svc.format_hours(Decimal("7.50")) == "7,5 h"
    assert svc.format_hours(Decimal("10.00")) == "10 h"
    assert svc.format_hours(Decimal("7.25")) == "7,25 h"
    assert svc.format_hours(Decimal("0")) == "0 h"
