"""Live updates in real browsers (SPEC F8): a learner saves a sheet and the teacher's open
period view turns the learner's folder green within a second — on one server process, then on
two gunicorn worker processes sharing Redis; and a dropped stream catches up on reconnect."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from playwright.sync_api import expect

from app.services import events
from tests import factories
from tests.live_servers import gunicorn_server, seeded_app

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
GREEN = re.compile(r"\bhas-unread\b")


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(factories.PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/connexion" not in url)


def open_period_view(page: Any, base: str, period_id: int) -> Any:
    """The teacher's period view with its live stream open; returns the folders container."""
    page.goto(f"{base}/periodes/{period_id}")
    container = page.locator(f"#period-{period_id}-folders")
    expect(container).to_have_attribute("data-live", "open", timeout=5000)
    return container


def save_sheet(page: Any, base: str, sheet_id: int, text: str) -> float:
    """The learner writes and saves; returns the moment the server answered the save."""
    page.goto(f"{base}/fiches/{sheet_id}/fiche")
    page.get_by_label("Description de l'activité").fill(text)
    with page.expect_response(lambda r: r.url.endswith("/enregistrer")) as answer:
        page.get_by_role("button", name="Enregistrer").click()
    assert answer.value.ok
    return time.monotonic()


@pytest.fixture
def two_people(browser: Any) -> Iterator[Callable[[], Any]]:
    """New pages in separate browser contexts (separate cookies and connection pools)."""
    contexts: list[Any] = []

    def _page() -> Any:
        context = browser.new_context(locale="fr-FR")
        contexts.append(context)
        return context.new_page()

    yield _page
    for context in contexts:
        context.close()


def test_folder_turns_green_when_the_learner_saves(
    e2e_world: Any, live_server: Any, two_people: Callable[[], Any], login: Any
) -> None:
    w = e2e_world
    teacher, learner = two_people(), two_people()
    login(teacher, w.teacher)
    open_period_view(teacher, live_server.url, w.period.id)
    folder = teacher.locator(f"#folder-{w.portfolio.id}")
    expect(folder).not_to_have_class(GREEN)
    folder.locator("summary").click()  # the teacher has the folder open
    expect(folder).to_have_attribute("open", "")

    login(learner, w.learner)
    saved_at = save_sheet(learner, live_server.url, w.sheet.id, "J'ai raccordé un tableau.")

    expect(folder).to_have_class(GREEN, timeout=1000)
    elapsed = time.monotonic() - saved_at
    assert elapsed < 1.0, f"folder turned green {elapsed:.2f}s after the save"
    expect(folder.locator(".folder-title")).to_contain_text("(1 fiche)")
    expect(folder).to_have_attribute("open", "")  # still open after the swap
    expect(folder.locator(".sheet-title.unread")).to_have_text(w.sheet.title)
    # The classmate's folder did not change.
    expect(teacher.locator(f"#folder-{w.classmate_portfolio.id}")).not_to_have_class(GREEN)


def test_a_dropped_stream_catches_up_when_it_reconnects(
    e2e_world: Any,
    live_server: Any,
    two_people: Callable[[], Any],
    login: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = e2e_world
    app: Flask = live_server.app
    monkeypatch.setitem(app.config, "LIVE_RETRY_MS", 2500)  # a window to miss an event in
    teacher, learner = two_people(), two_people()
    login(teacher, w.teacher)
    login(learner, w.learner)
    open_period_view(teacher, live_server.url, w.period.id)
    folder = teacher.locator(f"#folder-{w.portfolio.id}")
    topic = f"period:{w.period.id}"

    with app.app_context():
        events.broker().end_all()  # the connection drops (a restart, a proxy timeout…)
        deadline = time.monotonic() + 5
        while events.broker().listener_count(topic) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events.broker().listener_count(topic) == 0
    save_sheet(learner, live_server.url, w.sheet.id, "Saisie pendant la coupure.")
    expect(folder).not_to_have_class(GREEN)  # nobody was listening

    # The browser reconnects by itself; the page then re-fetches what it missed.
    expect(folder).to_have_class(GREEN, timeout=6000)
    expect(folder.locator(".folder-title")).to_contain_text("(1 fiche)")


@pytest.mark.skipif(
    not _redis_up() and not os.environ.get("CI"), reason=f"Redis unreachable at {REDIS_URL}"
)
@pytest.mark.db_independent(
    "seeded_app(tmp_path): its gunicorn workers use a SQLite file of their own on both passes"
)
def test_two_gunicorn_workers_deliver_through_redis(
    tmp_path: Path, two_people: Callable[[], Any]
) -> None:
    _app, seeded = seeded_app(tmp_path)
    prefix = f"passerelle-e2e-{uuid.uuid4().hex[:8]}:"
    period_id, portfolio_id = seeded.ids["period"], seeded.ids["portfolio"]
    with gunicorn_server(
        tmp_path,
        seeded.database_url,
        workers=2,
        redis_url=REDIS_URL,
        extra_env={"LIVE_REDIS_PREFIX": prefix},
        streams=True,  # gunicorn_streams.conf.py (gevent), what `make run` serves pages with
    ) as server:
        # Teachers' pages until streams are held by both worker processes, so that whichever
        # worker takes the learner's save, another process must relay it through Redis.
        folders = []
        for _ in range(10):
            page = two_people()
            sign_in(page, server.url, seeded.emails["teacher"])
            open_period_view(page, server.url, period_id)
            folders.append(page.locator(f"#folder-{portfolio_id}"))
            if len(set(server.workers_for("/events/periodes/"))) == 2:
                break
        stream_workers = set(server.workers_for("/events/periodes/"))
        assert len(stream_workers) == 2, "streams never reached both workers"

        learner = two_people()
        sign_in(learner, server.url, seeded.emails["learner"])
        saved_at = save_sheet(learner, server.url, seeded.ids["sheet"], "Saisie multi-processus.")
        for folder in folders:
            expect(folder).to_have_class(GREEN, timeout=1000)
        elapsed = time.monotonic() - saved_at
        assert elapsed < 1.0 + 0.1 * len(folders), f"all folders green after {elapsed:.2f}s"

        save_worker = server.workers_for(f"/fiches/{seeded.ids['sheet']}/enregistrer")[-1]
        assert stream_workers - {save_worker}, "no stream on another process than the save"


def _first_competency(w: Any) -> Any:
    from sqlalchemy import select

    from app.models import Competency

    return w.session.scalar(
        select(Competency)
        .where(Competency.framework_id == w.level.framework_id)
        .order_by(Competency.position)
        .limit(1)
    )


def open_assessment(page: Any, base: str, portfolio_id: int) -> None:
    page.goto(f"{base}/portfolios/{portfolio_id}/bilan")
    expect(page.locator("#assessment")).to_have_attribute("data-live", "open", timeout=5000)


def test_a_rating_by_one_assessor_appears_on_the_others_page(
    e2e_world: Any, live_server: Any, two_people: Callable[[], Any], login: Any
) -> None:
    w = e2e_world
    competency_id = _first_competency(w).id
    teacher, tutor = two_people(), two_people()
    login(teacher, w.teacher)
    login(tutor, w.tutor)
    open_assessment(teacher, live_server.url, w.portfolio.id)
    open_assessment(tutor, live_server.url, w.portfolio.id)

    # The tutor rates a competency: the teacher's page shows it within a second.
    item = f"#item-k{competency_id}"
    with tutor.expect_response(lambda r: "/bilan/items/" in r.url) as answer:
        tutor.locator(item).get_by_role("radio", name="4 – Très bien maîtrisé").click()
    assert answer.value.ok
    saved_at = time.monotonic()
    expect(teacher.locator(f"{item} input:checked")).to_have_value("4", timeout=1000)
    assert time.monotonic() - saved_at < 1.0
    expect(teacher.locator(f"{item} .by")).to_contain_text("tuteur")

    # The teacher gives three stars: the tutor sees them within a second.
    with teacher.expect_response(lambda r: "/bilan/items/" in r.url) as answer:
        teacher.locator("#item-engagement").get_by_role("radio", name="3 étoiles sur 4").click()
    assert answer.value.ok
    saved_at = time.monotonic()
    expect(tutor.locator("#item-engagement .star-text")).to_have_text("3 sur 4", timeout=1000)
    assert time.monotonic() - saved_at < 1.0
    # The author's own page kept its state (no echo replaced it mid-interaction).
    expect(teacher.locator("#item-engagement .star-text")).to_have_text("3 sur 4")


def test_text_being_typed_is_not_overwritten_by_a_live_update(
    e2e_world: Any, live_server: Any, two_people: Callable[[], Any], login: Any
) -> None:
    w = e2e_world
    teacher, tutor = two_people(), two_people()
    login(teacher, w.teacher)
    login(tutor, w.tutor)
    open_assessment(teacher, live_server.url, w.portfolio.id)
    open_assessment(tutor, live_server.url, w.portfolio.id)
    tutor.locator("#comment").click()
    tutor.keyboard.type("Brouillon du tuteur")
    teacher.locator("#comment").fill("Commentaire de l'enseignant.")
    with teacher.expect_response(lambda r: "/bilan/items/comment" in r.url):
        teacher.get_by_role("button", name="Enregistrer le commentaire").click()
    # A later change reaches the tutor, so the comment's update (sent before) has arrived.
    with teacher.expect_response(lambda r: "/bilan/items/engagement" in r.url):
        teacher.locator("#item-engagement").get_by_role("radio", name="2 étoiles sur 4").click()
    expect(tutor.locator("#item-engagement .star-text")).to_have_text("2 sur 4")
    expect(tutor.locator("#comment")).to_have_value("Brouillon du tuteur")
    expect(tutor.locator("#comment")).to_be_focused()
