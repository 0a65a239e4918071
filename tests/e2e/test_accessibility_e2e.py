"""Accessibility sweep (RGAA 4.1 / WCAG 2.1 AA) of every page each demo account can reach.

The demo is loaded into the browser tests' database; an HTTP crawl (tests/demo_crawl.py:
links, htmx targets, the level selector) lists what each account reaches, and one URL per
endpoint (url_rule) is opened in Chromium, signed in as that account, with its <details>
unfolded (not those that load their content on demand: that content is a URL of its own,
swept as such). axe-core runs with the WCAG 2.0/2.1 A and AA rules at 1280 px, then at
360 px in the same page; at 360 px the page must not scroll horizontally. Any violation
fails the test with the page, the width, the rule and the elements."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.extensions import db as _db
from app.services import demo
from tests.demo_crawl import add_identity_provider, crawl
from tests.e2e.conftest import LiveServer, clean_database

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ACCOUNTS = {
    "admin": "admin@demo.passerelle.fr",
    "teacher": "prof@demo.passerelle.fr",
    "learner": "eleve@demo.passerelle.fr",
    "tutor": "tuteur@demo.passerelle.fr",
    "master": "maitre@demo.passerelle.fr",
}
PUBLIC_PAGES = ["/connexion", "/accessibilite", "/hors-connexion"]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' — ' + n.failureSummary)}));
}"""
OVERFLOW = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth) return null;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > root.clientWidth + 1)
    .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
      + (typeof e.className === 'string' && e.className ? '.' + e.className : ''));
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide};
}"""


@dataclass
class DemoSite:
    url: str
    pages: dict[str, dict[str, str]]  # role → endpoint → URL


def _client_sign_in(app: Flask, email: str) -> Any:
    client = app.test_client()
    form = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    assert token, "no CSRF token on the sign-in page"
    answer = client.post(
        "/connexion",
        data={"email": email, "password": demo.DEMO_PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 302, f"{email} cannot sign in"
    return client


def _html_getter(client: Any) -> Any:
    def get(url: str, htmx: bool) -> tuple[int, str, str]:
        if re.search(r"\.(pdf|docx|zip|css|js|json|png|svg)(\?|$)", url) or url.startswith(
            "/static/"
        ):
            return 200, "application/octet-stream", ""  # not a page: nothing to sweep
        response = client.get(url, follow_redirects=True)
        text = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        return response.status_code, response.mimetype or "", text

    return get


@pytest.fixture(scope="module")
def demo_site(live_server: LiveServer) -> Iterator[DemoSite]:
    app = live_server.app
    clean_database(app)
    with app.app_context():
        demo.load()
        _db.session.commit()
        add_identity_provider()
        _db.session.remove()
    pages = {}  # each request in its own app context (a shared one would keep `g.user`)
    for role, email in ACCOUNTS.items():
        result = crawl(app, _html_getter(_client_sign_in(app, email)), per_endpoint=2)
        pages[role] = result.representatives()
    yield DemoSite(live_server.url, pages)
    clean_database(app)


def _sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/connexion" not in url)


TIMES: dict[str, list[float]] = {}


def _check(page: Any, url: str, axe_source: str) -> list[str]:
    problems: list[str] = []
    t0 = time.perf_counter()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url, wait_until="load")
    # Unfold what the page holds (the fragments that unfolding would load are swept as pages).
    page.evaluate(
        "document.querySelectorAll('details:not([hx-get])').forEach(d => { d.open = true; })"
    )
    page.evaluate(axe_source)
    t1 = time.perf_counter()
    for width in (1280, 360):
        if width != 1280:
            page.set_viewport_size({"width": width, "height": 740})
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
        for v in page.evaluate(RUN_AXE, TAGS):
            nodes = "\n      ".join(v["nodes"])
            problems.append(
                f"{url} @{width}px [{v['impact']}] {v['id']}: {v['help']}\n      {nodes}"
            )
    TIMES[url] = [t1 - t0, time.perf_counter() - t1]
    overflow = page.evaluate(OVERFLOW)
    if overflow:
        problems.append(f"{url} @360px scrolls horizontally: {json.dumps(overflow)}")
    return problems


@pytest.mark.db_independent(
    "axe and the 360 px overflow check judge the rendered markup and styles, which do not "
    "depend on the database; that every demo page answers on PostgreSQL is proved on both "
    "passes by tests/test_demo_crawl.py (every link, htmx target and download of each account)"
)
def test_every_page_of_every_demo_account_passes_axe(browser: Any, demo_site: DemoSite) -> None:
    assert AXE.is_file(), "axe-core missing: run `make test` (npm ci --prefix tests/e2e/axe)"
    axe_source = AXE.read_text()
    started = time.perf_counter()
    problems: list[str] = []
    checked = 0
    anonymous = browser.new_context(locale="fr-FR")
    page = anonymous.new_page()
    for path in PUBLIC_PAGES:
        problems += _check(page, f"{demo_site.url}{path}", axe_source)
        checked += 1
    anonymous.close()
    for role, email in ACCOUNTS.items():
        context = browser.new_context(locale="fr-FR")
        page = context.new_page()
        _sign_in(page, demo_site.url, email)
        for _endpoint, path in sorted(demo_site.pages[role].items()):
            problems += _check(page, f"{demo_site.url}{path}", axe_source)
            checked += 1
        context.close()
    elapsed = time.perf_counter() - started
    for url, (a, b) in sorted(TIMES.items(), key=lambda kv: -sum(kv[1]))[:15]:
        print(f"{a:.2f} {b:.2f} {url}")
    endpoints = {e for role_pages in demo_site.pages.values() for e in role_pages}
    print(
        f"\naccessibility sweep: {checked} pages × 2 widths ({len(endpoints)} endpoints, "
        f"{len(PUBLIC_PAGES)} public pages) in {elapsed:.0f} s"
    )
    assert checked >= 60, demo_site.pages
    assert not problems, f"{len(problems)} accessibility problems:\n" + "\n".join(problems)
