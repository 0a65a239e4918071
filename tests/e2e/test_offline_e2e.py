"""Offline scoring in Chromium (SPEC F7), against a real server on 127.0.0.1:

- an assessment opened online is reloaded from the service worker's cache with the network
  cut (`context.set_offline`), five ratings, the stars and the comment are made offline and
  wait in the outbox (the server receives nothing), the outbox survives a reload and a
  restart of the service worker, a 500 during the sync keeps every entry, and once the
  network is back the changes land exactly once (rows counted by UUID);
- a second device's conflicting rating of the same item ends as SPEC F7 says (the later
  device time wins, the other value is kept and restorable in one action);
- a learner drafts a sheet offline on a phone; it is sent when the network returns;
- signing out with changes waiting asks first and keeps them; an expired session keeps them,
  asks to sign in again and the sync resumes after;
- "Disponible hors connexion" on the tutor's list keeps an assessment never opened before.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import func, select, update

from app.models import (
    ActivitySheet,
    AssessmentItem,
    AssessmentItemChange,
    Competency,
    SyncReceipt,
    User,
)

STATUS = "#outbox-status"


def _worker_controls(page: Any) -> None:
    """The service worker is installed and controls the page (so its navigations are cached)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15000)


def _open_online(page: Any, url: str) -> None:
    page.goto(url)
    _worker_controls(page)
    page.reload()  # this visit goes through the worker, which keeps the page
    expect(page.get_by_role("heading", name="Bilan entreprise")).to_be_visible()
    page.wait_for_function(
        "url => caches.match(url, {ignoreVary: true}).then(Boolean)", arg=url, timeout=10000
    )


def _offline_at_the_assessment(browser: Any, login: Any, user: Any, url: str) -> tuple[Any, Any]:
    """A fresh browser (context, page) signed in as `user`, the assessment at `url` opened
    online once, then the network cut and the page reloaded from the phone's cache."""
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    login(page, user)
    _open_online(page, url)
    context.set_offline(True)
    page.reload()
    return context, page


def _competencies(w: Any) -> list[Competency]:
    return list(
        w.session.scalars(
            select(Competency)
            .where(Competency.framework_id == w.level.framework_id)
            .order_by(Competency.position)
        )
    )


def _changes(w: Any, uuids: list[str] | None = None) -> list[AssessmentItemChange]:
    w.session.rollback()  # a fresh snapshot: the server commits in its own transactions
    query = (
        select(AssessmentItemChange)
        .join(AssessmentItem, AssessmentItem.id == AssessmentItemChange.item_id)
        .where(AssessmentItem.assessment_id == w.assessment.id)
    )
    if uuids is not None:
        query = query.where(AssessmentItemChange.change_uuid.in_(uuids))
    return list(w.session.scalars(query))


def _item(w: Any, key: str) -> AssessmentItem | None:
    w.session.rollback()
    return w.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.assessment_id == w.assessment.id, AssessmentItem.item_key == key
        )
    )


def _outbox(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("window.PasserelleOutbox.all()")  # type: ignore[no-any-return]


def _rate(page: Any, competency_id: int, level: str) -> None:
    page.locator(f"#item-k{competency_id}").get_by_role(
        "radio", name=re.compile(f"^{level} –")
    ).check()
    expect(page.locator(f"#item-k{competency_id} .pending-note")).to_be_visible()


def _sign_out(page: Any) -> None:
    page.locator(".usermenu").evaluate("menu => { menu.open = true; }")
    page.get_by_role("button", name="Se déconnecter").click()


def _wait(page: Any, condition: Callable[[], bool], timeout: float = 10) -> None:
    """Poll `condition`, letting Playwright run meanwhile (route handlers, dialogs)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        page.wait_for_timeout(100)


def test_assessment_scored_offline_lands_exactly_once(
    browser: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    url = f"{live_server.url}/portfolios/{w.portfolio.id}/bilan"
    comps = _competencies(w)[:5]
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    login(page, w.tutor)
    _open_online(page, url)
    expect(page.locator(STATUS)).to_have_text("Aucune modification en attente.")

    # No network: the page comes back from the cache, with its styles and scripts.
    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Bilan entreprise")).to_be_visible()
    expect(page.locator(STATUS)).to_contain_text("Hors connexion")
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).position") == "sticky"

    levels = ["3", "4", "2", "1", "0"]
    for comp, level in zip(comps, levels, strict=True):
        _rate(page, comp.id, level)
    page.locator("#item-engagement").get_by_role("radio", name="4 étoiles sur 4").check()
    page.locator("#comment").fill("Noté dans l'atelier, sans réseau.")
    page.get_by_role("button", name="Enregistrer le commentaire").click()
    expect(page.locator(STATUS)).to_have_text(
        "7 modifications en attente — hors connexion : elles seront envoyées au retour du réseau."
    )
    assert page.locator(STATUS).get_attribute("aria-live") == "polite"
    entries = _outbox(page)
    uuids = [entry["uuid"] for entry in entries]
    assert len(set(uuids)) == 7
    assert all(re.search(r"[+-]\d\d:\d\d$", e["deviceTime"]) for e in entries)
    assert _changes(w) == []  # the server has received nothing

    # A reload (still offline): the waiting values are shown again.
    page.reload()
    expect(page.locator(STATUS)).to_contain_text("7 modifications en attente")
    expect(page.locator(f"#item-k{comps[0].id} input:checked")).to_have_value("3")
    expect(page.locator("#comment")).to_have_value("Noté dans l'atelier, sans réseau.")
    expect(page.locator(".pending-note")).to_have_count(7)

    # Every page closed, the worker stopped: a new page (offline) finds the same outbox.
    page.close()
    page = context.new_page()  # about:blank, not controlled by the worker
    cdp = context.new_cdp_session(page)
    cdp.send("ServiceWorker.enable")
    cdp.send("ServiceWorker.stopAllWorkers")
    cdp.detach()
    page.goto(url)
    expect(page.locator(STATUS)).to_contain_text("7 modifications en attente")
    assert sorted(e["uuid"] for e in _outbox(page)) == sorted(uuids)

    # The network returns but the server fails — a 500, an HTML page with status 200, a
    # redirect to the sign-in page: every entry stays.
    failures: list[int] = []
    state = {"fail": True}
    answers = [
        {"status": 500, "content_type": "text/html", "body": "<h1>Erreur</h1>"},
        {"status": 200, "content_type": "text/html", "body": "<!doctype html><p>Connexion</p>"},
        {"status": 302, "headers": {"Location": "/connexion"}, "body": ""},
    ]

    def sync_route(route: Any) -> None:
        if state["fail"]:
            answer = answers[len(failures) % len(answers)]
            failures.append(answer["status"])
            route.fulfill(**answer)
        else:
            route.continue_()

    context.route("**/api/sync", sync_route)
    context.set_offline(False)
    _wait(page, lambda: len(failures) >= 1)
    while len(failures) < len(answers):
        seen = len(failures)
        page.get_by_role("button", name="Synchroniser").click()
        _wait(page, lambda seen=seen: len(failures) > seen)
    expect(page.locator(STATUS)).to_contain_text("7 modifications en attente")
    page.wait_for_timeout(500)
    assert len(_outbox(page)) == 7 and _changes(w) == []
    assert set(failures) == {500, 200, 302}

    # The server recovers; the page comes back to the foreground: it sends, each change once.
    state["fail"] = False
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator(STATUS)).to_have_text("Toutes vos saisies sont envoyées.")
    assert _outbox(page) == []
    page.wait_for_timeout(800)  # Background Sync or another trigger must not add anything
    landed = _changes(w, uuids)
    assert sorted(c.change_uuid for c in landed) == sorted(uuids)
    assert len(_changes(w)) == 7
    assert all(c.via_sync and c.author_id == w.tutor.id and c.outcome == "applied" for c in landed)
    for comp, level in zip(comps, levels, strict=True):
        item = _item(w, f"competency:{comp.id}")
        assert item is not None and item.value == level
    assert (_item(w, "engagement") or AssessmentItem()).value == "4"
    assert (_item(w, "comment") or AssessmentItem()).value == "Noté dans l'atelier, sans réseau."
    # The page shows the server's state of each item now.
    expect(page.locator(".pending-note")).to_have_count(0)
    expect(page.locator(f"#item-k{comps[0].id} .by")).to_contain_text("Saisi par le tuteur")
    w.session.rollback()
    assert w.session.scalar(select(func.count()).select_from(SyncReceipt)) == 7
    context.close()


def test_background_sync_sends_the_outbox_with_every_page_closed(
    browser: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    url = f"{live_server.url}/portfolios/{w.portfolio.id}/bilan"
    comp = _competencies(w)[0]
    context, page = _offline_at_the_assessment(browser, login, w.tutor, url)
    _rate(page, comp.id, "2")
    uuids = [entry["uuid"] for entry in _outbox(page)]
    senders: list[bool] = []

    def observe(route: Any) -> None:
        senders.append(route.request.service_worker is not None)
        route.continue_()

    context.route("**/api/sync", observe)
    page.close()
    context.set_offline(False)  # no page left: only the worker can send
    probe = context.new_page()  # about:blank, outside the worker's scope of clients
    _wait(probe, lambda: len(_changes(w, uuids)) == 1, timeout=20)
    assert senders and all(senders)  # sent by the service worker (Background Sync)
    context.close()


def test_conflicting_rating_from_a_second_device_keeps_both_values(
    browser: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    url = f"{live_server.url}/portfolios/{w.portfolio.id}/bilan"
    comp = _competencies(w)[0]
    key = f"competency:{comp.id}"
    teacher_context = browser.new_context(locale="fr-FR")
    teacher = teacher_context.new_page()
    login(teacher, w.teacher)
    _open_online(teacher, url)
    teacher_context.set_offline(True)
    teacher.reload()

    # Device 2, online: the tutor rates the item first.
    tutor_context = browser.new_context(locale="fr-FR")
    tutor = tutor_context.new_page()
    login(tutor, w.tutor)
    tutor.goto(url)
    tutor.locator(f"#item-k{comp.id}").get_by_role("radio", name=re.compile("^1 –")).check()
    expect(tutor.locator(f"#item-k{comp.id} .by")).to_contain_text("Saisi par le tuteur")

    # Device 1, offline and later: the teacher rates the same item.
    _rate(teacher, comp.id, "4")
    assert (_item(w, key) or AssessmentItem()).value == "1"
    teacher_context.set_offline(False)
    expect(teacher.locator(STATUS)).to_have_text("Toutes vos saisies sont envoyées.")

    item = _item(w, key)
    assert item is not None
    assert (item.value, item.conflict, item.conflict_value) == ("4", True, "1")
    history = sorted((c.value, c.outcome) for c in _changes(w))
    assert history == [("1", "applied"), ("4", "conflict")]
    box = teacher.locator(f"#item-k{comp.id}")
    expect(box.locator(".conflict-box")).to_contain_text("« 1 – Insuffisant »")
    expect(box.locator("input:checked")).to_have_value("4")

    # The teacher restores the other value in one action.
    box.get_by_role("button", name="Rétablir l'autre valeur").click()
    expect(teacher.locator(f"#item-k{comp.id} .conflict-box")).to_have_count(0)
    expect(teacher.locator(f"#item-k{comp.id} input:checked")).to_have_value("1")
    item = _item(w, key)
    assert item is not None and (item.value, item.conflict) == ("1", False)
    assert len(_changes(w)) == 3  # the restoration is in the history too
    teacher_context.close()
    tutor_context.close()


def test_learner_drafts_a_sheet_offline_on_a_phone(
    phone_page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    page = phone_page
    sheet_id = w.sheet.id
    url = f"{live_server.url}/fiches/{sheet_id}/fiche"
    login(page, w.learner)
    page.goto(url)
    _worker_controls(page)
    page.reload()
    page.wait_for_function(
        "url => caches.match(url, {ignoreVary: true}).then(Boolean)", arg=url, timeout=10000
    )

    page.context.set_offline(True)
    page.reload()
    expect(page.get_by_label("Description de l'activité")).to_be_visible()
    page.get_by_label("Description de l'activité").fill("Rédigé dans le bus, sans réseau.")
    expect(page.locator(STATUS)).to_contain_text("1 modification en attente")
    expect(page.locator("#save-status")).to_contain_text("Pas de connexion")
    w.session.rollback()
    assert w.session.get(ActivitySheet, sheet_id).description == ""  # type: ignore[union-attr]
    queued = [entry["uuid"] for entry in _outbox(page)]
    assert len(queued) == 1 and _outbox(page)[0]["fields"]["description"] == (
        "Rédigé dans le bus, sans réseau."
    )

    page.context.set_offline(False)
    expect(page.locator("#save-status")).to_contain_text("Enregistré à")

    def landed() -> bool:
        w.session.rollback()
        sheet = w.session.get(ActivitySheet, sheet_id)
        return sheet is not None and sheet.description == "Rédigé dans le bus, sans réseau."

    _wait(page, landed)
    page.wait_for_function("() => window.PasserelleOutbox.all().then(e => e.length === 0)")
    draft = f"passerelle:draft:sheet:{sheet_id}"
    page.wait_for_function("key => localStorage.getItem(key) === null", arg=draft)
    # Sent once, under its UUID (sheets.js saving the same text again as the network returns
    # adds nothing).
    w.session.rollback()
    assert [r.change_uuid for r in w.session.scalars(select(SyncReceipt))] == queued


def test_sign_out_with_waiting_changes_asks_first_and_keeps_them(
    browser: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    url = f"{live_server.url}/portfolios/{w.portfolio.id}/bilan"
    comps = _competencies(w)[:2]
    context, page = _offline_at_the_assessment(browser, login, w.tutor, url)
    _rate(page, comps[0].id, "3")
    _rate(page, comps[1].id, "2")

    messages: list[str] = []

    def dismiss(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    _sign_out(page)
    _wait(page, lambda: bool(messages))
    assert messages[0].startswith("2 modifications n'ont pas encore été envoyées au serveur.")
    assert "prochaine connexion" in messages[0]
    expect(page.get_by_role("heading", name="Bilan entreprise")).to_be_visible()

    # Confirmed: signed out, the changes stay on the device.
    context.route("**/api/sync", lambda route: route.abort())  # keep them waiting
    context.set_offline(False)
    page.once("dialog", lambda dialog: dialog.accept())
    _sign_out(page)
    page.wait_for_url(re.compile(r"/connexion"))
    assert len(_outbox(page)) == 2
    assert _changes(w) == []

    # The same tutor signs in again: they are sent.
    context.unroute("**/api/sync")
    login(page, w.tutor)
    page.goto(url)
    expect(page.locator(STATUS)).to_have_text("Toutes vos saisies sont envoyées.")
    assert len(_changes(w)) == 2
    context.close()


def test_waiting_changes_are_dropped_only_when_the_user_says_so(
    browser: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    url = f"{live_server.url}/portfolios/{w.portfolio.id}/bilan"
    comp = _competencies(w)[0]
    context, page = _offline_at_the_assessment(browser, login, w.teacher, url)
    _rate(page, comp.id, "2")
    page.get_by_text("Voir les modifications en attente").click()
    expect(page.locator(".outbox-list")).to_contain_text(f"{comp.code} Compétence globale : 2")
    messages: list[str] = []

    def answer(dialog: Any) -> None:
        messages.append(dialog.message)
        (dialog.accept if len(messages) > 1 else dialog.dismiss)()

    page.on("dialog", answer)
    discard = page.get_by_role("button", name="Supprimer ces modifications de cet appareil")
    discard.click()
    _wait(page, lambda: len(messages) == 1)
    assert messages[0] == (
        "1 modification n'a pas été envoyée au serveur. La supprimer de cet appareil ? "
        "Elle sera perdue."
    )
    assert len(_outbox(page)) == 1
    discard.click()
    expect(page.locator(STATUS)).to_contain_text("Hors connexion")
    assert _outbox(page) == []
    expect(page.locator(".pending-note")).to_have_count(0)
    context.set_offline(False)
    page.wait_for_timeout(500)
    assert _changes(w) == []
    context.close()


def test_expired_session_keeps_the_outbox_and_sync_resumes_after_signing_in(
    browser: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    url = f"{live_server.url}/portfolios/{w.portfolio.id}/bilan"
    comp = _competencies(w)[0]
    context, page = _offline_at_the_assessment(browser, login, w.tutor, url)
    _rate(page, comp.id, "3")

    # Meanwhile every session of the tutor ended (e.g. "sign out everywhere").
    tutor_id = w.tutor.id
    w.session.rollback()  # SQLite: write in a transaction that has read nothing yet
    w.session.execute(
        update(User).where(User.id == tutor_id).values(session_version=User.session_version + 1)
    )
    w.session.commit()
    context.set_offline(False)
    banner = page.locator(".outbox-auth")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Votre session a expiré.")
    expect(page.locator(STATUS)).to_contain_text("1 modification en attente")
    assert len(_outbox(page)) == 1 and _changes(w) == []

    banner.get_by_role("link", name="Se reconnecter").click()
    page.get_by_label("Adresse e-mail").fill(w.tutor.email)
    page.get_by_label("Mot de passe").fill("correct horse battery")
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(url)
    expect(page.locator(STATUS)).to_have_text("Toutes vos saisies sont envoyées.")
    assert [c.value for c in _changes(w)] == ["3"]
    context.close()


def test_tutor_keeps_an_assessment_for_offline_use_from_the_list(
    browser: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    w = e2e_world
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    login(page, w.tutor)
    page.goto(f"{live_server.url}/mes-apprenants")
    _worker_controls(page)
    button = page.get_by_role("button", name=re.compile("Disponible hors connexion"))
    expect(button).to_have_count(1)
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_contain_text("✓ Disponible hors connexion")

    context.set_offline(True)
    page.goto(f"{live_server.url}/portfolios/{w.portfolio.id}/bilan")
    expect(page.get_by_role("heading", name="Bilan entreprise")).to_be_visible()
    expect(page.locator(STATUS)).to_contain_text("Hors connexion")
    # The scale colours (a stylesheet outside /static) came with it.
    colour = page.evaluate(
        "getComputedStyle(document.querySelector('.scale-legend .chip.s5')).backgroundColor"
    )
    assert colour not in ("rgba(0, 0, 0, 0)", "rgb(234, 238, 242)")
    context.close()
