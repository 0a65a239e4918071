"""Liaison sheets (fiche de liaison entreprise, SPEC F4).

"Lieu de réalisation" is filled by the learner (the teacher may correct it). "Objectifs" and
"Activités" start as the period's text; a teacher of the level or the learner's
apprenticeship master may individualise them, and a period-wide edit then leaves them alone
until someone resets them to the period's value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from email_validator import EmailNotValidError, validate_email

from app.extensions import db
from app.models import LiaisonSheet, Portfolio, User
from app.services import audit
from app.services.periods import MAX_TEXT, FieldError

PlanField = Literal["objectives", "activities"]
PLAN_FIELDS: tuple[PlanField, ...] = ("objectives", "activities")
# La Poste's establishments follow another check rule (sum of digits multiple of 5).
LA_POSTE_SIREN = "356000000"
_PHONE_CHARS = re.compile(r"^[0-9 +().\-]+$")


# --- validation -------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def normalize_siret(value: str | None, *, required: bool = True) -> str:
    """The 14 digits of a SIRET (spaces and dots removed), checked with its Luhn key."""
    digits = re.sub(r"[\s.]", "", value or "")
    if not digits:
        if required:
            raise FieldError("company_siret", "Indiquez le numéro SIRET de l'entreprise.")
        return ""
    if not digits.isdigit() or len(digits) != 14:
        raise FieldError(
            "company_siret",
            "Le numéro SIRET compte exactement 14 chiffres (les espaces sont acceptés).",
        )
    valid = luhn_ok(digits) or (
        digits.startswith(LA_POSTE_SIREN) and sum(int(c) for c in digits) % 5 == 0
    )
    if not valid:
        raise FieldError(
            "company_siret",
            "Ce numéro SIRET n'est pas valide (sa clé de contrôle ne correspond pas) : "
            "vérifiez chaque chiffre.",
        )
    return digits


def normalize_phone(value: str | None, field_name: str, *, required: bool) -> str:
    phone = " ".join((value or "").split())
    if not phone:
        if required:
            raise FieldError(field_name, "Indiquez un numéro de téléphone.")
        return ""
    digit_count = sum(c.isdigit() for c in phone)
    if not _PHONE_CHARS.match(phone) or not 8 <= digit_count <= 15 or len(phone) > 30:
        raise FieldError(field_name, "Numéro de téléphone invalide : par exemple 02 99 12 34 56.")
    return phone


def normalize_email(value: str | None, field_name: str, *, required: bool = True) -> str:
    email = (value or "").strip()
    if not email:
        if required:
            raise FieldError(field_name, "Indiquez une adresse e-mail.")
        return ""
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise FieldError(
            field_name, "Adresse e-mail invalide : par exemple prenom.nom@entreprise.fr."
        ) from None
    if len(checked.normalized) > 254:
        raise FieldError(field_name, "Adresse e-mail trop longue.")
    return checked.normalized.lower()


def _required(value: str | None, field_name: str, message: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise FieldError(field_name, message)
    if len(text) > max_length:
        raise FieldError(field_name, f"Ce champ ne doit pas dépasser {max_length} caractères.")
    return text


# --- Lieu de réalisation ------------------------------------------------------------------------


@dataclass
class PlaceInput:
    company_name: str = ""
    company_siret: str = ""
    company_address: str = ""
    company_phone: str = ""
    tutor_name: str = ""
    tutor_role: str = ""
    tutor_email: str = ""
    tutor_phone: str = ""


def update_place(actor: User, sheet: LiaisonSheet, data: PlaceInput) -> LiaisonSheet:
    """Save "Lieu de réalisation": every field is required except the tutor's phone."""
    values = {
        "company_name": _required(
            data.company_name, "company_name", "Indiquez le nom de l'entreprise.", 200
        ),
        "company_siret": normalize_siret(data.company_siret),
        "company_address": _required(
            data.company_address, "company_address", "Indiquez l'adresse de l'entreprise.", 1000
        ),
        "company_phone": normalize_phone(data.company_phone, "company_phone", required=True),
        "tutor_name": _required(data.tutor_name, "tutor_name", "Indiquez le nom du tuteur.", 160),
        "tutor_role": _required(
            data.tutor_role, "tutor_role", "Indiquez la fonction du tuteur.", 120
        ),
        "tutor_email": normalize_email(data.tutor_email, "tutor_email"),
        "tutor_phone": normalize_phone(data.tutor_phone, "tutor_phone", required=False),
    }
    for name, value in values.items():
        setattr(sheet, name, value)
    sheet.updated_by_id = actor.id
    db.session.flush()
    return sheet


# --- Objectifs / Activités ---------------------------------------------------------------------


def period_value(sheet: LiaisonSheet, field_name: PlanField) -> str:
    period = sheet.portfolio.period
    return period.objectives if field_name == "objectives" else period.activities


def update_plan(actor: User, sheet: LiaisonSheet, field_name: PlanField, text: str) -> bool:
    """Individualise the objectives or activities of one learner. Saving the period's own
    text makes the field follow the period again. Returns whether it is now individual."""
    if field_name not in PLAN_FIELDS:
        raise FieldError("text", "Rubrique inconnue.")
    value = (text or "").strip()
    if len(value) > MAX_TEXT:
        raise FieldError("text", f"Ce texte ne doit pas dépasser {MAX_TEXT} caractères.")
    individual = value != period_value(sheet, field_name).strip()
    setattr(sheet, field_name, value)
    setattr(sheet, f"{field_name}_individual", individual)
    sheet.updated_by_id = actor.id
    db.session.flush()
    portfolio: Portfolio = sheet.portfolio
    audit.record(
        actor,
        f"liaison.{field_name}_updated",
        "liaison_sheet",
        sheet.id,
        learner_id=portfolio.learner_id,
        individual=individual,
    )
    return individual


def reset_plan(actor: User, sheet: LiaisonSheet, field_name: PlanField) -> None:
    """Back to the period's text; later period-wide edits flow to this learner again."""
    if field_name not in PLAN_FIELDS:
        raise FieldError("text", "Rubrique inconnue.")
    setattr(sheet, field_name, period_value(sheet, field_name))
    setattr(sheet, f"{field_name}_individual", False)
    sheet.updated_by_id = actor.id
    db.session.flush()
    audit.record(
        actor,
        f"liaison.{field_name}_reset",
        "liaison_sheet",
        sheet.id,
        learner_id=sheet.portfolio.learner_id,
    )


def ensure_sheet(portfolio: Portfolio) -> LiaisonSheet:
    """The liaison sheet of a portfolio, created from the period when missing."""
    if portfolio.liaison_sheet is None:
        portfolio.liaison_sheet = LiaisonSheet(
            objectives=portfolio.period.objectives, activities=portfolio.period.activities
        )
        db.session.flush()
    return portfolio.liaison_sheet
