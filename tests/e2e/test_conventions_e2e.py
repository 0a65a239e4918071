"""Conventions and attestations in a real browser: the tutor records the attendance of their
mentee from a 360-px phone and signs; the teacher sees the convention states on the period
view and records a signature."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from app.models import Convention, ConventionState
from app.services import conventions

SHOTS = os.environ.get("CONVENTION_SCREENSHOTS")  # a folder: save what the pages look like


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_tutor_records_attendance_on_a_phone(
    phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    w.period.start_date = conventions.today() - timedelta(days=32)
    w.period.end_date = w.period.start_date + timedelta(days=18)
    w.session.commit()
    page = phone_page
    login(page, w.tutor)
    page.get_by_role("link", name="Attestation de fin de période").click()
    expect(page.get_by_role("heading", name="Attestation de PFMP")).to_be_visible()
    page.get_by_label("Jours effectués en entreprise").fill("40")
    page.get_by_role("button", name="Enregistrer l'attestation").click()
    expect(
        page.get_by_text("La période compte 19 jours du premier au dernier jour")
    ).to_be_visible()
    expect(page.get_by_label("Jours effectués en entreprise")).to_have_value("40")
    page.get_by_label("Jours effectués en entreprise").fill("14")
    page.get_by_label("Jours d'absence").fill("1")
    page.get_by_label("Motif des absences").fill("Rendez-vous médical")
    page.get_by_label("Je certifie l'exactitude").check()
    page.get_by_role("button", name="Enregistrer l'attestation").click()
    expect(page.get_by_text("Attestation enregistrée et signée.")).to_be_visible()
    expect(page.get_by_text("2 semaines et 4 jours")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page overflows horizontally: {width}px"
    _shot(page, "attestation-360")


def test_teacher_sees_states_and_records_a_signature(
    page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    w.session.add(
        Convention(portfolio_id=w.classmate_portfolio.id, state=ConventionState.SIGNED_BY_HEAD)
    )
    w.period.start_date = conventions.today() + timedelta(days=20)
    w.period.end_date = w.period.start_date + timedelta(days=18)
    w.session.commit()
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, w.teacher)
    page.goto(f"{live_server.url}/periodes/{w.period.id}")
    expect(
        page.get_by_text("Avant le début de la période : 1 convention non signée sur 2.")
    ).to_be_visible()
    folder = page.locator(f"#folder-{w.portfolio.id}")
    expect(folder.get_by_text("Convention à signer")).to_be_visible()
    _shot(page, "period-view-1280")
    folder.locator("summary").click()
    folder.get_by_role("link", name="Convention", exact=True).click()
    expect(page.get_by_role("heading", name="Convention de PFMP")).to_be_visible()
    page.get_by_label("Représentant de l'entreprise (signataire)").fill("Hélène Martin")
    page.get_by_role("button", name="Enregistrer les informations").click()
    expect(page.get_by_text("Informations de la convention enregistrées.")).to_be_visible()
    page.get_by_role("button", name="Enregistrer la signature de l'entreprise").click()
    expect(page.get_by_text("Signature de l'entreprise enregistrée.")).to_be_visible()
    expect(page.locator(".convention-state")).to_contain_text("Signée par l'entreprise")
    _shot(page, "convention-1280")
    page.set_viewport_size({"width": 360, "height": 740})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page overflows horizontally: {width}px"
    _shot(page, "convention-360")
