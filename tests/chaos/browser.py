"""A real browser in the storm: Chromium (Playwright) signs in as a tutor, opens an assessment
online (the service worker keeps it), loses the network, rates competencies offline (they wait
in the IndexedDB outbox), gets the network back and syncs — with the faults striking around
it. It presses "Synchroniser" when the automatic send failed (a worker killed, Redis down)."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect, sync_playwright

from tests import factories
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

STATUS = "#outbox-status"


def offline_round(
    base: str, email: str, portfolio_id: int, competency_ids: list[int], timeout: float = 90
) -> dict[str, Any]:
    levels = ["3", "1", "4", "2"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="fr-FR")
            page = context.new_page()
            page.goto(f"{base}/connexion")
            page.get_by_label("Adresse e-mail").fill(email)
            page.get_by_label("Mot de passe").fill(factories.PASSWORD)
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_url(lambda url: "/connexion" not in url)
            url = f"{base}/portfolios/{portfolio_id}/bilan"
            page.goto(url)
            page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            if not page.evaluate("navigator.serviceWorker.controller !== null"):
                page.reload()
            page.wait_for_function(
                "() => navigator.serviceWorker.controller !== null", timeout=30000
            )
            page.reload()
            page.wait_for_function(
                "url => caches.match(url, {ignoreVary: true}).then(Boolean)", arg=url,
                timeout=30000,
            )  # fmt: skip
            context.set_offline(True)
            page.reload()
            rated: dict[int, str] = {}
            for competency_id, level in zip(competency_ids, levels, strict=False):
                page.locator(f"#item-k{competency_id}").get_by_role(
                    "radio", name=re.compile(f"^{level} –")
                ).check()
                rated[competency_id] = level
            expect(page.locator(STATUS)).to_contain_text(f"{len(rated)} modifications en attente")
            started = time.monotonic()
            context.set_offline(False)
            deadline = started + timeout
            next_press = started + 8
            while time.monotonic() < deadline:
                text = page.locator(STATUS).inner_text()
                if "Toutes vos saisies sont envoyées" in text:
                    break
                if time.monotonic() > next_press:
                    button = page.get_by_role("button", name="Synchroniser")
                    if button.count():
                        button.first.click()
                    next_press = time.monotonic() + 8
                page.wait_for_timeout(200)
            seconds = time.monotonic() - started
            left = page.evaluate("window.PasserelleOutbox.all()")
            return {"rated": rated, "seconds": seconds, "left": left}
        finally:
            browser.close()
