"""The installable app in Chromium: installability verdict, the service worker in control,
assets from its cache and the offline page when the network is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS


def _worker_ready(page: Any) -> None:
    page.wait_for_function(
        "() => navigator.serviceWorker.controller !== null"
        " || navigator.serviceWorker.ready.then(() => false)",
        timeout=15000,
    )


@pytest.mark.db_independent(
    "Chromium's verdict on the manifest, the icons and the service worker of the sign-in page"
)
def test_chromium_finds_no_installability_error(
    browser_type: Any, live_server: Any, tmp_path: Path
) -> None:
    # An incognito context always answers "in-incognito": use a persistent profile.
    context = browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/connexion")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        _worker_ready(page)
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        verdict = cdp.send("Page.getInstallabilityErrors")
        assert verdict["installabilityErrors"] == [], verdict
    finally:
        context.close()


def test_offline_navigation_shows_the_offline_page_with_cached_styles(
    page: Any, e2e_world: Any, login: Any, live_server: Any
) -> None:
    login(page, e2e_world.teacher)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    _worker_ready(page)
    page.context.set_offline(True)
    page.goto(f"{live_server.url}/periodes/{e2e_world.period.id}")
    expect(page.get_by_role("heading", name="Vous êtes hors connexion")).to_be_visible()
    # The stylesheet came from the worker's cache: the top bar keeps the brand colour.
    colour = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert colour == "rgb(31, 78, 121)"
    page.context.set_offline(False)
    page.get_by_role("link", name="Réessayer").click()
    expect(page.get_by_role("heading", name=e2e_world.period.name)).to_be_visible()
