"""The shell in a real browser: htmx navigation without full reloads, URLs that reload to the
same screen, the back button, the collapsed menu on a phone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def test_teacher_navigates_without_full_reloads(page: Any, e2e_world: Any, login: Any) -> None:
    w = e2e_world
    login(page, w.teacher)
    expect(page.get_by_role("heading", name=w.level.name)).to_be_visible()
    page.evaluate("window.__marker = 'same-document'")

    page.get_by_role("link", name=w.period.name).first.click()
    expect(page.get_by_role("heading", name=w.period.name)).to_be_visible()
    assert page.url.endswith(f"/periodes/{w.period.id}")
    assert page.evaluate("window.__marker") == "same-document"  # no full reload

    page.get_by_role("link", name="Vue par apprenants").click()
    page.get_by_role("link", name=w.learner.sort_name, exact=False).first.click()
    expect(page.get_by_role("heading", name=w.learner.full_name)).to_be_visible()
    assert page.evaluate("window.__marker") == "same-document"

    page.reload()
    expect(page.get_by_role("heading", name=w.learner.full_name)).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name=w.level.name)).to_be_visible()


def test_menu_collapses_on_a_phone(phone_page: Any, e2e_world: Any, login: Any) -> None:
    w = e2e_world
    login(phone_page, w.teacher)
    menu_list = phone_page.locator("#menu .menu-list")
    expect(menu_list).to_be_hidden()
    phone_page.locator("#menu > summary").click()
    expect(menu_list).to_be_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page overflows horizontally: {width}px"


def test_bad_login_shows_a_french_message(page: Any, e2e_world: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/connexion")
    page.get_by_label("Adresse e-mail").fill(e2e_world.teacher.email)
    page.get_by_label("Mot de passe").fill("pas le bon mot de passe")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_text("Adresse e-mail ou mot de passe incorrect.")).to_be_visible()
    expect(page.get_by_label("Adresse e-mail")).to_have_value(e2e_world.teacher.email)
