"""CSRF on every state-changing request (SPEC "Security").

For every case of the access matrix with an unsafe method, each role the matrix lets through
sends the request as a cross-site attacker would make the victim's browser send it: with the
victim's session cookie (holding a CSRF secret) but without the token, then with a token that
is valid for another session (the attacker's own). Both must be refused (400, or 401/403)
and leave every table of the database as it was. A third request with the right token must
get past the check, so a refusal is known to come from CSRF and not from a broken request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from werkzeug.test import TestResponse

from tests.access import Case
from tests.security import (
    UNSAFE,
    all_cases,
    allowed_roles,
    app_config,
    case_id,
    changed_tables,
    client_for,
    db_fingerprint,
    fresh_session,
    resendable,
)

CSRF_MESSAGE = "jeton de sécurité"
CASES = [case for case in all_cases() if case.method in UNSAFE]
PAIRS = [(case, role) for case in CASES for role in allowed_roles(case)]


@pytest.fixture
def csrf_on(app: Flask, db: Any) -> Iterator[None]:
    with app_config(app, WTF_CSRF_ENABLED=True):
        yield


def _token_for(app: Flask, raw: str) -> str:
    """The token Flask-WTF would put in a page for a session holding `raw`."""
    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token")
    return str(serializer.dumps(raw))


def _with_csrf_secret(client: FlaskClient) -> str:
    raw = secrets.token_hex(20)
    with client.session_transaction() as session:
        session[client.application.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")] = raw
    return raw


def _send(
    client: FlaskClient, case: Case, url: str, data: dict[str, Any] | None, token: str | None
) -> TestResponse:
    headers = {}
    kwargs: dict[str, Any] = {}
    if data is not None:
        kwargs["json" if case.json else "data"] = dict(data)
    if token is not None:
        headers["X-CSRFToken"] = token
        if "data" in kwargs:
            kwargs["data"]["csrf_token"] = token
    fresh_session()
    return client.open(url, method=case.method, headers=headers, **kwargs)


def _is_refusal(response: TestResponse, url: str) -> str | None:
    """None when the response is a proper refusal, else what is wrong with it."""
    body = response.get_data(as_text=True)
    if response.status_code in (401, 403):
        return None
    if response.status_code != 400:
        return f"status {response.status_code} (expected 400): {body[:200]}"
    if url.startswith("/api/"):
        if not response.is_json or not isinstance(response.get_json(), dict):
            return f"/api/ answered a non-JSON error: {response.mimetype}"
        if response.get_json().get("error") != "csrf_failed":
            return f"JSON error is not csrf_failed: {response.get_json()}"
        return None
    if response.is_json:
        return None if response.get_json().get("error") == "csrf_failed" else body[:200]
    if CSRF_MESSAGE not in body:
        return f"400 without the CSRF message: {body[:200]}"
    return None


@pytest.mark.parametrize(("case", "role"), PAIRS, ids=[f"{case_id(c)} as {r}" for c, r in PAIRS])
def test_unsafe_request_without_a_valid_token_is_refused_and_changes_nothing(
    case: Case,
    role: str,
    app: Flask,
    csrf_on: None,
    f: Any,
    login_as: Callable[[Any], FlaskClient],
) -> None:
    world = f.world()
    if case.setup:
        case.setup(world, f)
    client = client_for(app, login_as, world, role)
    _with_csrf_secret(client)
    url, data = case.url(world), resendable(case.data(world)) if case.data else None
    fresh_session()
    before = db_fingerprint()

    attacker_token = _token_for(app, secrets.token_hex(20))
    for label, token in (("no token", None), ("another session's token", attacker_token)):
        response = _send(client, case, url, data() if data else None, token)
        problem = _is_refusal(response, url)
        assert problem is None, f"{case.method} {url} as {role}, {label}: {problem}"
        changed = changed_tables(before, db_fingerprint())
        assert not changed, f"{case.method} {url} as {role}, {label}: tables changed {changed}"


@pytest.mark.parametrize(("case", "role"), PAIRS, ids=[f"{case_id(c)} as {r}" for c, r in PAIRS])
def test_the_same_request_with_the_right_token_gets_past_the_check(
    case: Case,
    role: str,
    app: Flask,
    csrf_on: None,
    f: Any,
    login_as: Callable[[Any], FlaskClient],
) -> None:
    """Control: the refusals above come from the CSRF check, not from a malformed request."""
    world = f.world()
    if case.setup:
        case.setup(world, f)
    client = client_for(app, login_as, world, role)
    raw = _with_csrf_secret(client)
    url, data = case.url(world), case.data(world) if case.data else None
    response = _send(client, case, url, data, _token_for(app, raw))
    body = response.get_data(as_text=True)
    assert CSRF_MESSAGE not in body and "csrf_failed" not in body, (
        f"{case.method} {url} as {role} refused with a valid token: {body[:200]}"
    )
    assert response.status_code in allowed_statuses(case, role), (
        f"{case.method} {url} as {role} → {response.status_code}, "
        f"the matrix expects {case.expect[role]}"
    )


def allowed_statuses(case: Case, role: str) -> set[int]:
    expected = case.expect[role]
    return set(expected) if isinstance(expected, set) else {expected}


def test_every_unsafe_route_has_a_case_a_user_may_send() -> None:
    """A route whose cases all expect a refusal would escape the CSRF test above (a route
    with no case at all is reported by tests/test_access_matrix.py)."""
    covered = {(case.endpoint, case.method) for case, _role in PAIRS}
    missing = sorted({(case.endpoint, case.method) for case in CASES} - covered)
    assert not missing, f"unsafe routes with no allowed role in tests/access/*.py: {missing}"


def test_csrf_protects_every_unsafe_method_and_no_view_is_exempt(app: Flask) -> None:
    from app.extensions import csrf

    assert set(app.config["WTF_CSRF_METHODS"]) >= UNSAFE
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True
    exempt = sorted(csrf._exempt_views | csrf._exempt_blueprints)
    assert not exempt, (
        f"views exempt from CSRF (each needs its own protection and a test): {exempt}"
    )


def test_production_config_enables_csrf(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import Config

    monkeypatch.setenv("SECRET_KEY", "x")  # no key file written to instance/
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    config = Config()
    assert getattr(config, "WTF_CSRF_ENABLED", True) is True
