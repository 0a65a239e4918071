"""Visits in the browser (issue 16): a teacher plans a visit on a 360-px phone, the .ics reaches
the tutor through a real SMTP server, the tutor signs in and sees the visit, the teacher
writes the report; "Mes visites" opens offline once opened; the push subscription flow."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from playwright.sync_api import expect

from app.services import push
from app.timefmt import PARIS
from tests.mailbox import Mailbox, ics_of, smtp_server

# `PASSERELLE_SCREENSHOTS=docs/screenshots pytest tests/e2e/test_visits_e2e.py` refreshes the
# README's pictures; a normal run leaves the tree untouched.
SHOTS = os.environ.get("PASSERELLE_SCREENSHOTS")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


@pytest.fixture
def mailbox(live_server: Any) -> Iterator[Mailbox]:
    config = live_server.app.config
    saved = {key: config.get(key) for key in ("SMTP_HOST", "SMTP_PORT")}
    with smtp_server() as box:
        config["SMTP_HOST"], config["SMTP_PORT"] = "127.0.0.1", box.port
        yield box
    config.update(saved)


def _coming_period(w: Any) -> None:
    """The world's period moves to next week; the learner's company is filled in."""
    today = datetime.now(UTC).astimezone(PARIS).date()
    w.period.start_date = today + timedelta(days=7 - today.weekday())
    w.period.end_date = w.period.start_date + timedelta(days=25)
    sheet = w.portfolio.liaison_sheet
    sheet.company_name = "Électricité Martin"
    sheet.company_address = "12 rue de la Gare\n35000 Rennes"
    sheet.tutor_name = "Jérôme MARTIN"
    sheet.tutor_phone = "06 12 34 56 78"
    w.session.commit()


def test_teacher_plans_on_a_phone_tutor_sees_it_ics_arrives_report_written(
    e2e_world: Any, live_server: Any, login: Any, phone_page: Any, browser: Any, mailbox: Mailbox
) -> None:
    w = e2e_world
    _coming_period(w)
    page = phone_page
    login(page, w.teacher)
    page.goto(f"{live_server.url}/mes-visites")
    card = page.locator(f"#visit-{w.portfolio.id}")
    expect(card).to_contain_text("Électricité Martin")
    expect(card.locator("a.tel")).to_have_attribute("href", "tel:0612345678")
    _shot(page, "my-visits-360.png")
    card.get_by_role("link", name="Planifier la visite").click()

    # A quick pick fills the date; the time is typed; the page keeps the period's bounds.
    day = w.period.start_date + timedelta(days=1)
    date_input = page.get_by_label("Jour de la visite")
    expect(date_input).to_have_attribute("min", w.period.start_date.isoformat())
    page.locator(f'[data-pick-day="{day.isoformat()}"]').click()
    expect(date_input).to_have_value(day.isoformat())
    page.get_by_label("Heure").fill("10:30")
    _shot(page, "visit-plan-360.png")
    page.get_by_role("button", name="Planifier la visite").click()
    expect(page.locator("#flash")).to_contain_text("L'invitation (.ics) a été envoyée par e-mail")
    expect(page.locator("#visit-status")).to_contain_text("à 10:30")

    # The .ics is in the tutor's mailbox, in Paris time.
    mails = mailbox.to(w.tutor.email)
    assert len(mails) == 1
    event = icalendar.Calendar.from_ical(ics_of(mails[0])).events[0]
    assert event.start.astimezone(PARIS).replace(tzinfo=None) == datetime.combine(
        day, datetime.min.time()
    ).replace(hour=10, minute=30)

    # The tutor signs in on their own phone and sees the visit on the home page.
    tutor_context = browser.new_context(viewport={"width": 360, "height": 740}, locale="fr-FR")
    tutor_page = tutor_context.new_page()
    login(tutor_page, w.tutor)
    tutor_page.goto(f"{live_server.url}/mes-apprenants")
    expect(tutor_page.locator("#home-visits")).to_contain_text("à 10:30")
    _shot(tutor_page, "tutor-home-visit-360.png")
    tutor_context.close()

    # After the visit the teacher writes the report (the date of a visit already made).
    page.goto(f"{live_server.url}/portfolios/{w.portfolio.id}/visite/compte-rendu")
    page.get_by_label("Date de la visite").fill(datetime.now(UTC).date().isoformat())
    page.get_by_label("Personnes rencontrées").fill("Jérôme Martin, tuteur")
    page.get_by_label("Conditions du stage").fill("Bon accueil ; atelier bien équipé.")
    page.get_by_label("Points de vigilance").fill("Revoir la consignation avant intervention.")
    page.get_by_role("button", name="Enregistrer le compte rendu").click()
    expect(page.locator("#flash")).to_contain_text("Compte rendu de visite enregistré.")
    page.goto(f"{live_server.url}/mes-visites")
    expect(card).to_contain_text("Compte rendu écrit")


def test_mes_visites_opens_offline_once_opened(
    e2e_world: Any, live_server: Any, login: Any, browser: Any
) -> None:
    w = e2e_world
    _coming_period(w)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    login(page, w.teacher)
    url = f"{live_server.url}/mes-visites"
    page.goto(url)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15000)
    page.reload()
    page.wait_for_function(
        "url => caches.match(url, {ignoreVary: true}).then(Boolean)", arg=url, timeout=10000
    )
    _shot(page, "my-visits-1280.png")
    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Mes visites")).to_be_visible()
    expect(page.locator(f"#visit-{w.portfolio.id}")).to_contain_text("Électricité Martin")
    context.close()


def test_push_subscription_flow_in_chromium(
    e2e_world: Any, live_server: Any, login: Any, browser: Any
) -> None:
    """Permission granted, the page asks the browser's push service for a subscription. Headless
    Chromium has no reachable push service here (no network but 127.0.0.1): subscribe() fails
    and the page says so in French; the subscription endpoint the page would call stores what
    the browser gives, with the page's CSRF token."""
    w = e2e_world
    config = live_server.app.config
    private, public = push.generate_vapid_keys()
    config["VAPID_PRIVATE_KEY"], config["VAPID_PUBLIC_KEY"] = private, public
    context = browser.new_context(locale="fr-FR")
    try:
        context.grant_permissions(["notifications"], origin=live_server.url)
        page = context.new_page()
        login(page, w.learner)
        page.goto(f"{live_server.url}/compte/notifications")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        button = page.get_by_role("button", name="Activer les notifications sur cet appareil")
        expect(button).to_be_visible()
        assert page.evaluate("Notification.permission") == "granted"
        state = page.locator("#push-state")
        expect(state).to_have_text("Non activées sur cet appareil.")  # the page has checked
        button.click()
        # The answer of subscribe(): the push service unreachable here, or reachable after all.
        expect(state).to_have_text(
            re.compile("injoignable|Notifications activées|Impossible"), timeout=20000
        )
        text = state.inner_text()
        print(f"push state: {text}")
        from sqlalchemy import select

        from app.models import PushSubscription

        stored = w.session.scalars(select(PushSubscription)).all()
        if "Notifications activées" in text:  # a push service was reachable after all
            assert len(stored) == 1 and stored[0].user_id == w.learner.id
        else:
            assert "injoignable" in text
            # What the page sends once subscribe() succeeds: the same JSON, CSRF header.
            answer = page.evaluate(
                """async () => {
                  const r = await fetch('/api/push/abonnement', {method: 'POST',
                    headers: {'Content-Type': 'application/json', 'Accept': 'application/json',
                      'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
                    body: JSON.stringify({endpoint: 'https://push.invalid/send/1',
                      keys: {p256dh: 'BOr', auth: 'c2VjcmV0'}})});
                  return [r.status, (await r.json()).message];
                }"""
            )
            assert answer == [200, "Notifications activées sur cet appareil."]
            w.session.rollback()  # a fresh snapshot
            stored = w.session.scalars(select(PushSubscription)).all()
            assert [s.endpoint for s in stored] == ["https://push.invalid/send/1"]
            refused = page.evaluate(
                """async () => (await fetch('/api/push/abonnement', {method: 'POST',
                    headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
                    body: '{}'})).status"""
            )
            assert refused == 400  # no CSRF token
    finally:
        config["VAPID_PRIVATE_KEY"] = config["VAPID_PUBLIC_KEY"] = None
        context.close()
