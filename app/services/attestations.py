"""Attestations de PFMP (issue 13 §3): at the end of a period, the tutor (from their phone)
or the teacher records the days actually done and the absences, and signs.

A week of PFMP counts five days: a learner's attestations add up, in weeks, towards the total
their diploma requires (`Framework.required_placement_weeks`, data of the framework file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import bindparam, func, select

from app import timefmt
from app.errors import InvalidInput
from app.extensions import db
from app.models import (
    Attestation,
    ClassGroup,
    Framework,
    Learner,
    Level,
    Period,
    Portfolio,
    User,
)
from app.models.base import utcnow
from app.services.conventions import parse_day, today
from app.services.periods import FieldError

DAYS_PER_WEEK = 5
MAX_REASON = 1000


def calendar_days(period: Period) -> int:
    return (period.end_date - period.start_date).days + 1


def planned_days(period: Period) -> int:
    """Working days (Monday to Friday) between the period's first and last day."""
    day, count = period.start_date, 0
    while day <= period.end_date:
        count += day.weekday() < 5
        day += timedelta(days=1)
    return count


def weeks_and_days(days: int) -> str:
    """22 → "4 semaines et 2 jours"; 20 → "4 semaines"; 3 → "3 jours"."""
    weeks, rest = divmod(days, DAYS_PER_WEEK)
    parts = []
    if weeks:
        parts.append(f"{weeks} semaine{'s' if weeks > 1 else ''}")
    if rest or not weeks:
        parts.append(f"{rest} jour{'s' if rest > 1 else ''}")
    return " et ".join(parts)


def fr_weeks(days: int) -> str:
    """Days as weeks with at most one decimal, French style: 22 days → "4,4"."""
    weeks = (Decimal(days) / DAYS_PER_WEEK).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{weeks:f}".removesuffix(".0").replace(".", ",")


def attestation_of(portfolio: Portfolio) -> Attestation | None:
    return db.session.scalar(select(Attestation).where(Attestation.portfolio_id == portfolio.id))


# --- recording --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceInput:
    days_done: str
    absence_days: str = ""
    absence_dates: str = ""
    absence_reason: str = ""
    sign: bool = False
    signer_name: str = ""


def _count(value: str, field_name: str, label: str) -> int:
    text = value.strip()
    if not text:
        if field_name == "absence_days":
            return 0
        raise FieldError(field_name, f"Indiquez le nombre de {label}.")
    if not text.isdigit():
        raise FieldError(field_name, f"Le nombre de {label} est un nombre entier, par exemple 18.")
    return int(text)


def parse_absence_dates(value: str, period: Period) -> list[date]:
    """Dates separated by commas, spaces or lines, each within the period."""
    days: list[date] = []
    for token in re.split(r"[\s,;]+", value.strip()):
        if not token:
            continue
        try:
            day = parse_day(token, "absence_dates")
        except FieldError:
            raise FieldError(
                "absence_dates",
                f"« {token} » n'est pas une date : écrivez les dates comme 03/06/2026, "
                "séparées par des virgules.",
            ) from None
        if not period.start_date <= day <= period.end_date:
            raise FieldError(
                "absence_dates",
                f"Le {timefmt.fr_date(day)} n'est pas dans la période "
                f"(du {timefmt.fr_date(period.start_date)} au {timefmt.fr_date(period.end_date)}).",
            )
        if day not in days:
            days.append(day)
    return sorted(days)


def record_attendance(
    actor: User, portfolio: Portfolio, data: AttendanceInput
) -> tuple[Attestation, bool]:
    """Create or update the portfolio's attestation; with `sign`, the actor signs it (a later
    change of figures withdraws the signature: what was signed must be what is printed).
    Returns the attestation and whether it was created."""
    period = portfolio.period
    if today() < period.start_date:
        raise InvalidInput(
            "La période n'a pas encore commencé : l'attestation se remplit à la fin de la "
            f"période (à partir du {timefmt.fr_date(period.start_date)})."
        )
    days_done = _count(data.days_done, "days_done", "jours effectués")
    absence_days = _count(data.absence_days, "absence_days", "jours d'absence")
    dates = parse_absence_dates(data.absence_dates, period)
    total = calendar_days(period)
    if days_done > total:
        raise FieldError(
            "days_done",
            f"La période compte {total} jours du premier au dernier jour : "
            f"{days_done} jours effectués est impossible.",
        )
    if dates and not absence_days:
        absence_days = len(dates)
    if dates and len(dates) != absence_days:
        raise FieldError(
            "absence_days",
            f"Vous avez indiqué {absence_days} jour(s) d'absence mais {len(dates)} date(s).",
        )
    if days_done + absence_days > total:
        raise FieldError(
            "absence_days",
            f"Jours effectués et jours d'absence dépassent ensemble les {total} jours "
            "de la période.",
        )
    reason = data.absence_reason.strip()
    if len(reason) > MAX_REASON:
        raise FieldError("absence_reason", f"{MAX_REASON} caractères au maximum.")
    if absence_days and not reason:
        raise FieldError("absence_reason", "Indiquez le motif des absences (même bref).")
    signer = " ".join(data.signer_name.split())[:160]
    if data.sign and not signer:
        raise FieldError("signer_name", "Indiquez le nom et la fonction du signataire.")

    attestation = attestation_of(portfolio)
    created = attestation is None
    if attestation is None:
        attestation = Attestation(portfolio_id=portfolio.id)
        db.session.add(attestation)
    iso_dates = "\n".join(day.isoformat() for day in dates)
    changed = (
        created
        or attestation.days_done != days_done
        or attestation.absence_days != absence_days
        or attestation.absence_dates != iso_dates
        or attestation.absence_reason != reason
    )
    attestation.days_done, attestation.absence_days = days_done, absence_days
    attestation.absence_dates, attestation.absence_reason = iso_dates, reason
    attestation.recorded_by_id, attestation.recorded_at = actor.id, utcnow()
    if data.sign:
        attestation.signer_name = signer
        attestation.signed_by_id, attestation.signed_at = actor.id, utcnow()
    elif changed:
        attestation.signer_name, attestation.signed_by_id, attestation.signed_at = "", None, None
    db.session.flush()
    return attestation, created


# --- progress towards the diploma -------------------------------------------------------------


@dataclass(frozen=True)
class PlacementProgress:
    days: int
    required_weeks: int | None

    @property
    def weeks_label(self) -> str:
        return fr_weeks(self.days)

    @property
    def complete(self) -> bool:
        return self.required_weeks is not None and self.days >= self.required_weeks * 5


# Both figures in one statement, built once: the days attested over all the learner's
# portfolios and the weeks their class's framework requires (null without a class).
_PLACEMENT = select(
    select(func.coalesce(func.sum(Attestation.days_done), 0))
    .join(Portfolio, Attestation.portfolio_id == Portfolio.id)
    .where(Portfolio.learner_id == bindparam("learner_id"))
    .scalar_subquery(),
    select(Framework.required_placement_weeks)
    .join(Level, Level.framework_id == Framework.id)
    .join(ClassGroup, ClassGroup.level_id == Level.id)
    .where(ClassGroup.id == bindparam("class_group_id"))
    .scalar_subquery(),
)


def placement_progress(learner: Learner) -> PlacementProgress:
    """Days attested over all the learner's periods, and what their diploma requires (taken
    from the framework of their class's level): 1 query."""
    days, required = db.session.execute(
        _PLACEMENT, {"learner_id": learner.id, "class_group_id": learner.class_group_id}
    ).one()
    return PlacementProgress(days=int(days or 0), required_weeks=required)
