"""The demo works everywhere a newcomer clicks: load the demo (in the test's rolled-back
transaction, files in the test app's temporary UPLOAD_DIR), sign in through the real form as
each demo account, follow every link, htmx target and level choice it can reach, and fail on
any 4xx or 5xx, naming the URL and the page that linked it."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db as _db
from app.models import Attachment
from app.services import demo
from tests.demo_crawl import add_identity_provider, crawl, links_of, report

DEMO_ACCOUNTS = [
    "admin@demo.passerelle.fr",
    "prof@demo.passerelle.fr",
    "prof2@demo.passerelle.fr",
    "eleve@demo.passerelle.fr",
    "apprenti@demo.passerelle.fr",
    "tuteur@demo.passerelle.fr",
    "maitre@demo.passerelle.fr",
]


@pytest.fixture
def demo_loaded(app: Flask, db: Any) -> None:
    demo.load()
    _db.session.commit()
    add_identity_provider()


def _sign_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/connexion", data={"email": email, "password": demo.DEMO_PASSWORD})
    assert answer.status_code == 302, f"{email} cannot sign in: {answer.status_code}"
    return client


def _getter(client: FlaskClient) -> Any:
    def get(url: str, htmx: bool) -> tuple[int, str, str]:
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.get(url, headers=headers, follow_redirects=True)
        text = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        return response.status_code, response.mimetype or "", text

    return get


def test_demo_attachments_download_for_the_learner(app: Flask, demo_loaded: None) -> None:
    """The bug of issue 15: the demo wrote its files outside the folder the app reads."""
    sheet_id = _db.session.scalar(
        select(Attachment.sheet_id).where(Attachment.original_name == "schema-armoire.pdf")
    )
    client = _sign_in(app, "eleve@demo.passerelle.fr")
    page = client.get(f"/fiches/{sheet_id}/annexes").get_data(as_text=True)
    files = {}
    for target in links_of(page):
        if re.fullmatch(rf"/fiches/{sheet_id}/annexes/\d+", target.url):
            files[target.url] = client.get(target.url)
    names = {r.headers.get("Content-Disposition", ""): r for r in files.values()}
    assert len(files) == 2, page
    pdf = next(r for d, r in names.items() if "schema-armoire.pdf" in d)
    png = next(r for d, r in names.items() if "photo-tableau.png" in d)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")


def test_every_link_of_the_demo_works_for_every_account(app: Flask, demo_loaded: None) -> None:
    broken: list[str] = []
    reached: dict[str, int] = {}
    endpoints: set[str] = set()
    started, cpu = time.perf_counter(), time.process_time()
    downloads: dict[str, int] = {}  # each kind of PDF/DOCX is built twice in all, not per account
    for email in DEMO_ACCOUNTS:
        result = crawl(app, _getter(_sign_in(app, email)), per_download=2, downloads=downloads)
        reached[email] = len(result.visits)
        endpoints |= result.endpoints()
        if result.broken:
            broken.append(f"{email}:\n{report(result)}")
    print(
        f"\ndemo crawl: {sum(reached.values())} requests by {len(reached)} accounts, "
        f"{len(endpoints)} endpoints, {len(broken)} accounts with broken links, "
        f"{time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f} s of CPU)"
    )
    assert not broken, "broken links in the demo\n" + "\n".join(broken)
    # Each account really got around (a crawl stuck on its home page would prove nothing).
    assert all(count >= 25 for count in reached.values()), reached
