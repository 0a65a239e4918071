"""Path traversal: no URL and no stored name reaches a file outside UPLOAD_DIR (or static/).

1. Every rule of app.url_map, built from its access-matrix case, gets traversal payloads in
   each of its arguments (ids, tokens, item keys, static paths), for every role: never a 500,
   never the content of /etc/passwd or of a canary file beside UPLOAD_DIR, and the canary is
   still there afterwards (confirm routes that delete their stash take a token).
2. File routes whose stored name was tampered with in the database (an attachment's
   `stored_name`, the school's logo and stamp) answer 404 and serve nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update
from werkzeug.routing import IntegerConverter

from app.extensions import db
from app.models import Attachment, School
from tests.access import ROLES, Case
from tests.security import all_cases, client_for, fresh_session, resendable

PAYLOADS = [
    "../../../../../../etc/passwd",
    "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%252F..%252F..%252F..%252Fetc%252Fpasswd",
    "....//....//....//....//etc/passwd",
    "..%5C..%5C..%5C..%5Cetc%5Cpasswd",
    "%2Fetc%2Fpasswd",
    "..%00.png",
    "..",
    "../canary.txt",
    "..%2Fcanary.txt",
]
PASSWD_MARKER = "root:x:0:0"
RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@pytest.fixture
def canary(app: Flask) -> Iterator[tuple[Path, str]]:
    """A file right beside UPLOAD_DIR, which no request may read or delete."""
    secret = f"canary-{secrets.token_hex(8)}"
    # The folders exist in real life: a `..` that crosses a missing folder would fail for
    # that reason alone and hide a broken guard.
    (Path(app.config["UPLOAD_DIR"]) / "attachments").mkdir(parents=True, exist_ok=True)
    path = Path(app.config["UPLOAD_DIR"]).parent / "canary.txt"
    path.write_text(secret)
    yield path, secret
    path.unlink(missing_ok=True)


def _rule_cases(app: Flask) -> list[tuple[Case, Any]]:
    """One case per rule with arguments (the first one of its endpoint and method)."""
    rules = {(r.endpoint, m): r for r in app.url_map.iter_rules() for m in r.methods or ()}
    chosen: dict[tuple[str, str], tuple[Case, Any]] = {}
    for case in all_cases():
        rule = rules.get((case.endpoint, case.method))
        if rule is not None and rule.arguments and (case.endpoint, case.method) not in chosen:
            chosen[(case.endpoint, case.method)] = (case, rule)
    return list(chosen.values())


def _with_payload(rule_text: str, values: dict[str, Any], target: str, payload: str) -> str:
    return RULE_ARGUMENT.sub(
        lambda m: payload if m.group(1) == target else str(values[m.group(1)]), rule_text
    )


@pytest.mark.parametrize("role", ROLES)
def test_traversal_payloads_in_every_route_argument(
    role: str, app: Flask, f: Any, login_as: Any, canary: tuple[Path, str]
) -> None:
    canary_path, secret = canary
    world = f.world()
    client = client_for(app, login_as, world, role)
    adapter = app.url_map.bind("localhost")
    requests = []
    for case, rule in _rule_cases(app):
        if case.setup is not None:
            continue
        path = case.url(world).split("?")[0]
        _endpoint, values = adapter.match(path, method=case.method)
        data = resendable(case.data(world)) if case.data else None
        for argument in rule.arguments:
            # An int argument refuses any payload at routing: two spellings are enough there.
            numeric = isinstance(rule._converters.get(argument), IntegerConverter)
            payloads = PAYLOADS[:2] if numeric else PAYLOADS
            for payload in payloads:
                url = _with_payload(rule.rule, values, argument, payload)
                requests.append((case.method, url, data, case.json))
    assert requests
    failures = []
    for method, url, data, as_json in requests:
        fresh_session()
        kwargs = {} if data is None else {"json" if as_json else "data": data()}
        response = client.open(url, method=method, **kwargs)
        body = response.get_data(as_text=True) if response.mimetype != "text/event-stream" else ""
        response.close()
        if response.status_code >= 500:
            failures.append(f"{method} {url} → {response.status_code}")
        if (
            response.status_code == 200
            and method == "GET"
            and response.mimetype
            not in (
                "text/html",
                "application/json",
            )
        ):
            failures.append(f"{method} {url} served a {response.mimetype} file")
        if PASSWD_MARKER in body or secret in body:
            failures.append(f"{method} {url} leaked a file outside the upload folder")
        if not canary_path.exists():
            failures.append(f"{method} {url} deleted a file outside the upload folder")
            canary_path.write_text(secret)
    assert not failures, "\n".join(failures)


def test_static_files_stay_inside_the_static_folder(app: Flask, client: Any) -> None:
    for url in (
        "/static/../__init__.py",
        "/static/..%2F__init__.py",
        "/static/%2e%2e/config.py",
        "/static/css/../../__init__.py",
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
    ):
        response = client.get(url)
        if response.status_code == 308:  # merged slashes: a redirect that stays in static/
            assert response.headers["Location"].split("localhost", 1)[-1].startswith("/static/")
            response = client.get(response.headers["Location"])
        assert response.status_code in (404, 400), (url, response.status_code)
        body = response.get_data(as_text=True)
        assert "create_app" not in body and "SECRET_KEY" not in body and PASSWD_MARKER not in body


TAMPERED_NAMES = [
    "../canary.txt",
    "../../canary.txt",
    "/etc/passwd",
    "attachments/../../canary.txt",
    "%2e%2e/canary.txt",
]


@pytest.mark.parametrize("stored_name", TAMPERED_NAMES)
def test_an_attachment_with_a_tampered_stored_name_is_not_served(
    stored_name: str, app: Flask, f: Any, login_as: Any, canary: tuple[Path, str]
) -> None:
    _path, secret = canary
    world = f.world()
    attachment = Attachment(
        sheet_id=world.sheet.id,
        kind="file",
        original_name="photo.jpg",
        stored_name=stored_name,
        content_type="image/jpeg",
        size=10,
    )
    db.session.add(attachment)
    db.session.flush()
    url = f"/fiches/{world.sheet.id}/annexes/{attachment.id}"
    clients = [login_as(world.learner), login_as(world.teacher), login_as(world.tutor)]
    for client in clients:
        fresh_session()
        response = client.get(url)
        assert response.status_code == 404, (stored_name, response.status_code)
        body = response.get_data(as_text=True)
        assert secret not in body and PASSWD_MARKER not in body


def _school_image_urls(app: Flask) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint in ("admin.school_logo", "admin.school_stamp")
    )


@pytest.mark.parametrize("stored_name", [*TAMPERED_NAMES, "school-../../canary.png"])
def test_school_images_with_a_tampered_name_are_not_served_or_embedded(
    stored_name: str, app: Flask, f: Any, login_as: Any, canary: tuple[Path, str]
) -> None:
    from app.services.documents import logo_path, school_identity

    canary_path, secret = canary
    world = f.world()
    db.session.execute(update(School).values(logo_file=stored_name, stamp_file=stored_name))
    db.session.flush()
    urls = _school_image_urls(app)
    assert urls, "the school logo route is gone: update this test"
    admin = login_as(world.admin)
    for url in urls:
        fresh_session()
        response = admin.get(url)
        assert response.status_code == 404, (url, stored_name, response.status_code)
        assert secret not in response.get_data(as_text=True)
    # Documents (DOCX, PDF) take the logo from here.
    assert logo_path(stored_name) is None
    assert logo_path(str(canary_path)) is None
    assert school_identity().logo is None


def test_a_document_never_embeds_a_file_from_outside_the_upload_folder(
    app: Flask, f: Any, login_as: Any, canary: tuple[Path, str]
) -> None:
    """The pre-agreement DOCX embeds the school logo: with a logo name pointing outside
    UPLOAD_DIR, the document is still made, without that file."""
    import io
    import zipfile

    from tests.security.test_uploads import png

    canary_path, secret = canary
    canary_png = canary_path.with_suffix(".png")
    canary_png.write_bytes(png(2, 2, extra=secret.encode()))
    world = f.world()
    db.session.execute(update(School).values(logo_file="../canary.png"))
    url = f"/portfolios/{world.portfolio.id}/pre-convention.docx"
    client = login_as(world.teacher)
    fresh_session()
    response = client.get(url)
    canary_png.unlink()
    if response.status_code == 404 and not any(
        r.rule.endswith("pre-convention.docx") for r in app.url_map.iter_rules()
    ):
        pytest.fail("the pre-agreement route is gone: update this test")
    assert response.status_code == 200, response.status_code
    with zipfile.ZipFile(io.BytesIO(response.data)) as document:
        for name in document.namelist():
            assert secret.encode() not in document.read(name), name
