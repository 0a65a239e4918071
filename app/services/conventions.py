"""Conventions de PFMP (issue 13 §3): the three-party agreement of each learner × period.

The paper is signed in a fixed order — the company, then the family (the learner, or their
legal guardian when a minor), then the head of school — and the teacher records each
signature with the date written on the paper. A scan of the signed paper may be uploaded
instead: it records the remaining signatures at once. Scans are stored and checked like
sheet attachments (services/attachments.py), outside the web root.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

from sqlalchemy import select

from app import timefmt
from app.errors import InvalidInput
from app.extensions import db
from app.models import Convention, ConventionState, Learner, Period, Portfolio, User
from app.models.base import utcnow
from app.services import attachments
from app.services.liaison import normalize_email, normalize_phone
from app.services.periods import FieldError


@dataclass(frozen=True)
class Step:
    state: ConventionState
    prefix: str  # column prefix: company_signed_on, company_recorded_by_id…
    signer: str  # "(la signature) de l'entreprise"


STEPS = (
    Step(ConventionState.SIGNED_BY_COMPANY, "company", "de l'entreprise"),
    Step(ConventionState.SIGNED_BY_FAMILY, "family", "de l'apprenant ou de son représentant légal"),
    Step(ConventionState.SIGNED_BY_HEAD, "head", "du chef d'établissement"),
)
ORDER = [ConventionState.TO_SIGN, *(step.state for step in STEPS)]
SCAN_TYPES = {attachments.PDF, attachments.JPEG, attachments.PNG, attachments.HEIC}
MAX_HOURS_MINOR = Decimal(35)
MAX_HOURS_ADULT = Decimal(48)


def today() -> date:
    """Today in Europe/Paris (the date a French user would write on the paper)."""
    return timefmt.local(utcnow()).date()


def is_minor(birth: date | None, on: date) -> bool:
    if birth is None:
        return False
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return age < 18


def learner_is_minor(learner: Learner, period: Period) -> bool:
    """On the first day of the period: the guardian signs for a minor."""
    return is_minor(learner.birth_date, period.start_date)


# --- reading ----------------------------------------------------------------------------------


def ensure_convention(portfolio: Portfolio) -> Convention:
    """The portfolio's convention, created (to sign) on first write."""
    convention = db.session.scalar(
        select(Convention).where(Convention.portfolio_id == portfolio.id)
    )
    if convention is None:
        convention = Convention(portfolio_id=portfolio.id, state=ConventionState.TO_SIGN)
        db.session.add(convention)
        db.session.flush()
    return convention


def blank_convention(portfolio: Portfolio) -> Convention:
    """An unsaved convention to show (a GET never writes)."""
    return Convention(
        portfolio_id=portfolio.id,
        state=ConventionState.TO_SIGN,
        company_representative="",
        company_representative_role="",
        guardian_name="",
        guardian_address="",
        guardian_phone="",
        guardian_email="",
        daily_schedule="",
        transport="",
        meals="",
        lodging="",
        company_insurer="",
        company_policy="",
        school_insurer="",
        scan_original_name="",
        scan_content_type="",
        scan_size=0,
    )


def next_step(convention: Convention) -> Step | None:
    index = ORDER.index(ConventionState(convention.state))
    return STEPS[index] if index < len(STEPS) else None


def done_steps(convention: Convention) -> list[Step]:
    return list(STEPS[: ORDER.index(ConventionState(convention.state))])


@dataclass
class PeriodConventions:
    """The convention state of each portfolio of a period, and what is still missing."""

    states: dict[int, str]  # portfolio id → state (to_sign when no convention exists yet)
    starts_on: date

    @property
    def unsigned(self) -> int:
        return sum(1 for state in self.states.values() if state != ConventionState.SIGNED_BY_HEAD)

    @property
    def before_start(self) -> bool:
        return today() < self.starts_on


def period_convention_states(period: Period, portfolio_ids: list[int]) -> PeriodConventions:
    """States of the given portfolios of a period: 1 query whatever their number."""
    states = dict.fromkeys(portfolio_ids, str(ConventionState.TO_SIGN))
    if portfolio_ids:
        rows = db.session.execute(
            select(Convention.portfolio_id, Convention.state).where(
                Convention.portfolio_id.in_(portfolio_ids)
            )
        )
        states.update({portfolio_id: state for portfolio_id, state in rows})
    return PeriodConventions(states=states, starts_on=period.start_date)


# --- details (parties, hours, financial annex, insurance) --------------------------------------


@dataclass(frozen=True)
class DetailsInput:
    company_representative: str = ""
    company_representative_role: str = ""
    guardian_name: str = ""
    guardian_address: str = ""
    guardian_phone: str = ""
    guardian_email: str = ""
    daily_schedule: str = ""
    weekly_hours: str = ""
    transport: str = ""
    meals: str = ""
    lodging: str = ""
    company_insurer: str = ""
    company_policy: str = ""
    school_insurer: str = ""


_LENGTHS = {
    "company_representative": 160,
    "company_representative_role": 120,
    "guardian_name": 160,
    "guardian_address": 1000,
    "daily_schedule": 1000,
    "transport": 1000,
    "meals": 1000,
    "lodging": 1000,
    "company_insurer": 200,
    "company_policy": 80,
    "school_insurer": 200,
}


def parse_hours(value: str, *, minor: bool) -> Decimal | None:
    """ "35", "35,5" or "35 h" → Decimal; empty → None; FieldError otherwise."""
    text = value.strip().lower().removesuffix("h").strip().replace(",", ".")
    if not text:
        return None
    try:
        hours = Decimal(text)
    except InvalidOperation:
        raise FieldError(
            "weekly_hours", "Indiquez un nombre d'heures par semaine, par exemple 35."
        ) from None
    if not hours.is_finite() or hours <= 0:
        raise FieldError("weekly_hours", "La durée hebdomadaire doit être supérieure à zéro.")
    limit = MAX_HOURS_MINOR if minor else MAX_HOURS_ADULT
    if hours > limit:
        who = "un apprenant mineur" if minor else "un apprenant majeur"
        raise FieldError(
            "weekly_hours",
            f"La durée hebdomadaire ne peut pas dépasser {limit} heures pour {who}.",
        )
    if hours != hours.quantize(Decimal("0.1")):
        raise FieldError("weekly_hours", "Indiquez les heures à la demi-heure près (ex. 35,5).")
    return hours


def update_details(
    actor: User, convention: Convention, data: DetailsInput, *, minor: bool
) -> Convention:
    """Fill in what the liaison sheet does not hold: the company's signatory, the legal
    guardian (required for a minor), hours, the financial annex and insurance."""
    values = {name: " ".join(getattr(data, name).split()) for name in _LENGTHS}
    for name in ("guardian_address", "daily_schedule", "transport", "meals", "lodging"):
        values[name] = getattr(data, name).strip()  # multi-line fields keep their lines
    for name, limit in _LENGTHS.items():
        if len(values[name]) > limit:
            raise FieldError(name, f"{limit} caractères au maximum.")
    if minor and not values["guardian_name"]:
        raise FieldError(
            "guardian_name",
            "L'apprenant est mineur au début de la période : indiquez son représentant légal.",
        )
    phone = normalize_phone(data.guardian_phone, "guardian_phone", required=False)
    email = ""
    if data.guardian_email.strip():
        email = normalize_email(data.guardian_email, "guardian_email")
    hours = parse_hours(data.weekly_hours, minor=minor)
    for name, value in values.items():
        setattr(convention, name, value)
    convention.guardian_phone, convention.guardian_email = phone, email
    convention.weekly_hours = hours
    db.session.flush()
    return convention


# --- signatures -------------------------------------------------------------------------------


def parse_day(value: str | None, field_name: str) -> date:
    """A date typed as 03/06/2026 or sent by a date input (2026-06-03)."""
    text = (value or "").strip()
    if not text:
        raise FieldError(field_name, "Indiquez la date de la signature.")
    try:
        if "/" in text:
            day, month, year = (int(part) for part in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise FieldError(field_name, "Date non valide : écrivez-la comme 03/06/2026.") from None


def _check_signed_on(convention: Convention, signed_on: date) -> None:
    if signed_on > today():
        raise FieldError("signed_on", "La date de signature ne peut pas être dans le futur.")
    previous = [getattr(convention, f"{s.prefix}_signed_on") for s in done_steps(convention)]
    last = max((day for day in previous if day is not None), default=None)
    if last is not None and signed_on < last:
        raise FieldError(
            "signed_on",
            f"La signature précédente est datée du {timefmt.fr_date(last)} : "
            "celle-ci ne peut pas être antérieure.",
        )


def record_signature(actor: User, convention: Convention, state: str, signed_on: date) -> Step:
    """Record the next signature of the paper (the state posted must be the next one, so a
    double submission or a stale page cannot skip or repeat a step)."""
    step = next_step(convention)
    if step is None:
        raise InvalidInput("Cette convention est déjà signée par toutes les parties.")
    if state != step.state:
        raise InvalidInput(
            "La convention a changé entre-temps (signature déjà enregistrée ?) : rechargez la page."
        )
    _check_signed_on(convention, signed_on)
    _sign(convention, step, actor, signed_on)
    db.session.flush()
    return step


def _sign(convention: Convention, step: Step, actor: User, signed_on: date) -> None:
    setattr(convention, f"{step.prefix}_signed_on", signed_on)
    setattr(convention, f"{step.prefix}_recorded_by_id", actor.id)
    setattr(convention, f"{step.prefix}_recorded_at", utcnow())
    convention.state = step.state


def undo_signature(actor: User, convention: Convention) -> Step:
    """Withdraw the last recorded signature (a mistake); the scan, if any, stays."""
    done = done_steps(convention)
    if not done:
        raise InvalidInput("Aucune signature n'est enregistrée sur cette convention.")
    step = done[-1]
    for suffix in ("signed_on", "recorded_by_id", "recorded_at"):
        setattr(convention, f"{step.prefix}_{suffix}", None)
    convention.state = ORDER[ORDER.index(step.state) - 1]
    db.session.flush()
    return step


def attach_scan(
    actor: User, convention: Convention, stream: IO[bytes], filename: str | None, signed_on: date
) -> Convention:
    """Keep the scan of the signed paper (PDF or photo) and record the signatures not yet
    recorded, dated `signed_on`. A previous scan is replaced (its file goes after commit)."""
    _check_signed_on(convention, signed_on)
    stored = attachments.store_checked_file(stream, filename, allowed=SCAN_TYPES)
    if convention.scan_stored_name:
        attachments.delete_files_after_commit([convention.scan_stored_name])
    convention.scan_stored_name = stored.stored_name
    convention.scan_original_name = stored.original_name
    convention.scan_content_type = stored.content_type
    convention.scan_size = stored.size
    convention.scan_uploaded_at = utcnow()
    convention.scan_uploaded_by_id = actor.id
    while (step := next_step(convention)) is not None:
        _sign(convention, step, actor, signed_on)
    db.session.flush()
    return convention


def scan_path(convention: Convention) -> Path | None:
    return attachments.stored_file_path(convention.scan_stored_name)
