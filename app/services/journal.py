"""Journal activité entreprise (SPEC F5): the learner's day-by-day log of a period.

One entry per day of the period: hours worked (0 to 24), what was done, and optionally the
framework tasks involved. The learner writes it; the teachers of the level and the tutor of
the portfolio read and print it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import raiseload, selectinload

from app import access
from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from app.models import Activity, JournalEntry, Portfolio, Task, User

MAX_DESCRIPTION = 5000
MAX_HOURS = Decimal(24)


@dataclass
class Journal:
    portfolio: Portfolio
    entries: list[JournalEntry]

    @property
    def total_hours(self) -> Decimal:
        return sum((entry.hours for entry in self.entries), Decimal(0))


def load_entries(portfolio_id: int) -> list[JournalEntry]:
    """The entries of a portfolio by date, with their tasks: 2 queries."""
    return list(
        db.session.scalars(
            select(JournalEntry)
            .where(JournalEntry.portfolio_id == portfolio_id)
            .order_by(JournalEntry.entry_date, JournalEntry.id)
            .options(selectinload(JournalEntry.tasks), raiseload("*"))
        )
    )


def framework_tasks(framework_id: int) -> list[tuple[Activity, list[Task]]]:
    """The tasks a learner may mention, grouped by activity: 2 queries."""
    activities = db.session.scalars(
        select(Activity)
        .where(Activity.framework_id == framework_id)
        .order_by(Activity.position, Activity.id)
        .options(selectinload(Activity.tasks), raiseload("*"))
    )
    return [(activity, list(activity.tasks)) for activity in activities]


def parse_hours(raw: object) -> Decimal:
    """ "7", "7.5", "7,5" → Decimal with two places; InvalidInput outside 0–24."""
    text = str(raw if raw is not None else "").strip().replace(",", ".")
    try:
        hours = Decimal(text)
    except InvalidOperation as error:
        raise InvalidInput("Indiquez un nombre d'heures, par exemple 7 ou 7,5.") from error
    if not hours.is_finite() or hours < 0 or hours > MAX_HOURS:
        raise InvalidInput("Le nombre d'heures doit être compris entre 0 et 24.")
    return hours.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def check_date(portfolio: Portfolio, entry_date: date, entry_id: int | None = None) -> None:
    """InvalidInput when the day is outside the period or already has an entry."""
    period = portfolio.period
    if not period.start_date <= entry_date <= period.end_date:
        raise InvalidInput(
            f"Choisissez un jour de la période (du {period.start_date:%d/%m/%Y} "
            f"au {period.end_date:%d/%m/%Y})."
        )
    clash = db.session.scalar(
        select(JournalEntry.id).where(
            JournalEntry.portfolio_id == portfolio.id, JournalEntry.entry_date == entry_date
        )
    )
    if clash is not None and clash != entry_id:
        raise InvalidInput("Ce jour a déjà une entrée dans le journal : modifiez-la.")


def _tasks(framework_id: int, task_ids: Iterable[int]) -> list[Task]:
    ids = set(task_ids)
    if not ids:
        return []
    tasks = list(
        db.session.scalars(select(Task).where(Task.id.in_(ids), Task.framework_id == framework_id))
    )
    if len(tasks) != len(ids):
        raise InvalidInput("Tâche du référentiel inconnue.")
    return tasks


def save_entry(
    portfolio: Portfolio,
    user: User,
    *,
    entry: JournalEntry | None,
    entry_date: date,
    hours: object,
    description: str,
    task_ids: Iterable[int] = (),
) -> JournalEntry:
    """Create (entry=None) or update a day of the journal."""
    if not access.can_write_journal(user, portfolio):
        raise NotAllowed("Seul l'apprenant tient son journal.")
    if entry is not None and entry.portfolio_id != portfolio.id:
        raise InvalidInput("Cette entrée n'appartient pas à ce journal.")
    check_date(portfolio, entry_date, entry.id if entry is not None else None)
    text = (description or "").replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput("Décrivez ce que vous avez fait ce jour-là.")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"Le texte est trop long ({MAX_DESCRIPTION} caractères au plus).")
    tasks = _tasks(portfolio.period.level.framework_id, task_ids)
    if entry is None:
        entry = JournalEntry(portfolio_id=portfolio.id)
        db.session.add(entry)
    entry.entry_date = entry_date
    entry.hours = parse_hours(hours)
    entry.description = text
    entry.tasks = tasks
    db.session.flush()
    return entry


def delete_entry(entry: JournalEntry, user: User) -> None:
    if not access.can_write_journal(user, entry.portfolio):
        raise NotAllowed("Seul l'apprenant tient son journal.")
    db.session.delete(entry)
    db.session.flush()


def format_hours(hours: Decimal) -> str:
    """7 → "7 h", 7.5 → "7,5 h", 7.25 → "7,25 h"."""
    text = f"{hours.normalize():f}" if hours != 0 else "0"
    return f"{text.replace('.', ',')} h"
