"""Liaison sheet service: validation of the place, individualising and resetting (SPEC F4)."""

from __future__ import annotations

from typing import Any

import pytest

from app.services import liaison
from app.services.periods import FieldError

VALID_PLACE = dict(
    company_name="Électricité Martin",
    company_siret="732 829 320 00074",
    company_address="3 rue des Lilas\n35000 Rennes",
    company_phone="02 99 12 34 56",
    tutor_name="Paul Martin",
    tutor_role="Chef d'équipe",
    tutor_email="Paul.Martin@Example.org",
    tutor_phone="",
)


@pytest.mark.parametrize("value", ["73282932000074", "732 829 320 00074", "732.829.320.00074"])
def test_valid_siret_is_normalised(value: str) -> None:
    assert liaison.normalize_siret(value) == "73282932000074"


def test_la_poste_sirets_use_their_own_rule() -> None:
    # La Poste's establishments: sum of digits multiple of 5, not Luhn.
    assert liaison.normalize_siret("35600000000001") == "35600000000001"
    with pytest.raises(FieldError):
        liaison.normalize_siret("35600000049001")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Indiquez le numéro SIRET"),
        ("7328293200007", "exactement 14 chiffres"),
        ("7328293200007A", "exactement 14 chiffres"),
        ("73282932000075", "clé de contrôle"),
    ],
)
def test_bad_siret_gets_a_clear_message(value: str, message: str) -> None:
    with pytest.raises(FieldError) as error:
        liaison.normalize_siret(value)
    assert error.value.field == "company_siret"
    assert message in error.value.message


@pytest.mark.parametrize("value", ["02 99 12 34 56", "+33 2 99 12 34 56", "0299123456"])
def test_valid_phones(value: str) -> None:
    assert liaison.normalize_phone(value, "company_phone", required=True)


@pytest.mark.parametrize("value", ["abc", "12", "<script>", "0" * 20])
def test_bad_phones(value: str) -> None:
    with pytest.raises(FieldError, match="Numéro de téléphone invalide"):
        liaison.normalize_phone(value, "company_phone", required=True)


def test_email_is_checked_and_lowercased() -> None:
    assert liaison.normalize_email("Paul.Martin@Example.org", "tutor_email") == (
        "paul.martin@example.org"
    )
    with pytest.raises(FieldError, match="Adresse e-mail invalide"):
        liaison.normalize_email("paul.martin@", "tutor_email")


def test_update_place_saves_every_field(f: Any) -> None:
    w = f.world()
    sheet = w.portfolio.liaison_sheet
    liaison.update_place(w.learner, sheet, liaison.PlaceInput(**VALID_PLACE))
    assert sheet.company_siret == "73282932000074"
    assert sheet.tutor_email == "paul.martin@example.org"
    assert sheet.tutor_phone == ""
    assert sheet.updated_by_id == w.learner.id


def test_update_place_requires_all_but_the_tutor_phone(f: Any) -> None:
    w = f.world()
    for name in ("company_name", "company_address", "tutor_name", "tutor_role", "tutor_email"):
        data = {**VALID_PLACE, name: "  "}
        with pytest.raises(FieldError) as error:
            liaison.update_place(w.learner, w.portfolio.liaison_sheet, liaison.PlaceInput(**data))
        assert error.value.field == name


def test_individualise_and_reset(f: Any) -> None:
    w = f.world()
    sheet = w.portfolio.liaison_sheet
    assert liaison.update_plan(w.teacher, sheet, "objectives", "Objectifs d'Inès") is True
    assert sheet.objectives_individual and sheet.objectives == "Objectifs d'Inès"
    assert not sheet.activities_individual
    liaison.reset_plan(w.teacher, sheet, "objectives")
    assert not sheet.objectives_individual
    assert sheet.objectives == w.period.objectives
    # Saving the period's own text does not individualise.
    assert liaison.update_plan(w.teacher, sheet, "activities", w.period.activities) is False
    assert not sheet.activities_individual


def test_plan_text_length_is_limited(f: Any) -> None:
    w = f.world()
    with pytest.raises(FieldError, match="ne doit pas dépasser"):
        liaison.update_plan(w.teacher, w.portfolio.liaison_sheet, "objectives", "x" * 20_001)
