"""French date formatting (Europe/Paris) and ISO weeks, shared by pages and documents."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MONTHS = [
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
]  # fmt: skip
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def local(value: datetime) -> datetime:
    return value.astimezone(PARIS)


def fr_date(value: date | datetime | None) -> str:
    """03/06/2022."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return value.strftime("%d/%m/%Y")


def fr_datetime(value: datetime | None) -> str:
    """03/06/2022 à 14:05 (Paris time)."""
    if value is None:
        return ""
    value = local(value)
    return f"{value:%d/%m/%Y} à {value:%H:%M}"


def fr_long_date(value: date | None) -> str:
    """lundi 3 juin 2024."""
    if value is None:
        return ""
    return f"{DAYS[value.weekday()]} {value.day} {MONTHS[value.month - 1]} {value.year}"


def iso_weeks(start: date, end: date) -> list[tuple[int, int]]:
    """The (ISO year, ISO week) pairs touched by [start, end], in order."""
    weeks: list[tuple[int, int]] = []
    day = start - timedelta(days=start.weekday())
    while day <= end:
        iso = day.isocalendar()
        weeks.append((iso.year, iso.week))
        day += timedelta(days=7)
    return weeks


def week_title(iso_year: int, iso_week: int) -> str:
    return f"Fiche activité : semaine {iso_week} [{iso_year}]"
