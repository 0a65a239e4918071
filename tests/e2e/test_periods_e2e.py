"""Periods and tutor accounts in a real browser: a teacher creates a period for a class, then
invites a tutor whose phone opens the link, sets a password and sees only their mentee."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

PASSWORD = "une phrase assez longue"


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page overflows horizontally: {width}px"


def test_teacher_creates_a_period_for_a_class(page: Any, e2e_world: Any, login: Any) -> None:
    w = e2e_world
    login(page, w.teacher)
    page.get_by_role("link", name="Créer une période").click()
    expect(page.get_by_role("heading", name="Créer une période en entreprise")).to_be_visible()
    page.get_by_label("Nom de la période").fill("PFMP de septembre")
    page.get_by_label("Date de début").fill("2026-09-07")
    page.get_by_label("Date de fin").fill("2026-09-25")
    # Ticking the whole class ticks its learners (periods.js).
    page.get_by_label(f"Toute la classe {w.class_group.name}").check()
    expect(page.get_by_label(w.learner.sort_name)).to_be_checked()
    expect(page.get_by_label(w.classmate.sort_name)).to_be_checked()
    page.get_by_role("button", name="Créer la période").click()
    expect(page.get_by_text("Période « PFMP de septembre » créée : 2 portfolios")).to_be_visible()
    expect(page.get_by_role("heading", name="PFMP de septembre")).to_be_visible()
    expect(page.locator(".folder")).to_have_count(2)
    page.locator(".folder > summary").first.click()
    expect(page.get_by_text("Fiche activité : semaine 37 [2026]").first).to_be_visible()


def test_end_before_start_keeps_input_in_the_browser(page: Any, e2e_world: Any, login: Any) -> None:
    w = e2e_world
    login(page, w.teacher)
    page.goto(page.url.split("/niveaux")[0] + f"/niveaux/{w.level.id}/periodes/nouvelle")
    page.get_by_label("Nom de la période").fill("À l'envers")
    page.get_by_label("Date de début").fill("2026-09-25")
    page.get_by_label("Date de fin").fill("2026-09-07")
    page.get_by_label(w.learner.sort_name).check()
    page.get_by_role("button", name="Créer la période").click()
    expect(
        page.get_by_text("La date de fin doit être postérieure ou égale à la date de début.")
    ).to_be_visible()
    expect(page.get_by_label("Nom de la période")).to_have_value("À l'envers")
    expect(page.get_by_label("Date de fin")).to_have_value("2026-09-07")
    expect(page.get_by_label(w.learner.sort_name)).to_be_checked()


def test_tutor_invited_by_link_signs_in_on_a_phone(
    page: Any, phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    login(page, w.teacher)
    page.goto(f"{live_server.url}/portfolios/{w.portfolio.id}/liaison")
    page.get_by_role("link", name="Changer de tuteur").click()  # the world's tutor is active
    page.get_by_label("Prénom").fill("Paul")
    page.get_by_label("Nom", exact=True).fill("Martin")
    page.get_by_label("Adresse e-mail (identifiant de connexion)").fill("paul.martin@example.org")
    page.get_by_role("button", name="Créer le compte et le lien d'invitation").click()
    expect(page.locator(".qr-box svg")).to_be_visible()
    link = page.locator("#invite-url").input_value()
    assert link.startswith(f"{live_server.url}/invitation/")

    phone = phone_page
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Bienvenue sur Passerelle")).to_be_visible()
    expect(phone.get_by_text("paul.martin@example.org")).to_be_visible()
    _no_horizontal_scroll(phone)
    phone.get_by_label("Choisissez un mot de passe").fill(PASSWORD)
    phone.get_by_label("Confirmez le mot de passe").fill(PASSWORD)
    phone.get_by_role("button", name="Activer mon compte").click()
    expect(phone.get_by_role("heading", name="Mes apprenants")).to_be_visible()
    expect(phone.get_by_text(w.learner.full_name)).to_be_visible()
    expect(phone.get_by_text(w.classmate.full_name)).to_have_count(0)
    _no_horizontal_scroll(phone)
    phone.get_by_role("link", name="Fiche de liaison").click()
    expect(phone.get_by_role("heading", name="Fiche de liaison entreprise")).to_be_visible()
    expect(phone.locator(".pagetabs a")).to_have_count(3)
    _no_horizontal_scroll(phone)
    phone.get_by_role("link", name="Objectifs").click()
    expect(phone.get_by_text(w.period.objectives)).to_be_visible()
    _no_horizontal_scroll(phone)
    # Another learner's liaison sheet does not exist for this tutor.
    response = phone.goto(f"{live_server.url}/portfolios/{w.classmate_portfolio.id}/liaison")
    assert response is not None and response.status == 404

    # The link works once.
    phone.goto(link)
    expect(phone.get_by_text("Ce lien d'invitation a déjà été utilisé.")).to_be_visible()
