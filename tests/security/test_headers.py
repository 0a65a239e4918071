"""Security headers on every page and fragment, and the session cookie's flags.

Every GET case of the access matrix is requested by every role, as a full page and as an htmx
fragment (`HX-Request: true`). Each answer must carry a strict Content-Security-Policy,
`X-Content-Type-Options: nosniff` and a Referrer-Policy; every cookie set must be HttpOnly and
SameSite=Lax (and Secure when SESSION_COOKIE_SECURE). HTML must also obey the policy it
announces: no inline script, no event-handler attribute, no style attribute (the browser
would silently refuse them, and they are what an injection would need).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.access import ROLES, Case
from tests.factories import PASSWORD
from tests.security import all_cases, app_config, client_for, fresh_session, is_stream_or_file

GET_CASES = [case for case in all_cases() if case.method == "GET"]
SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}
UNSAFE_SOURCES = {
    "'unsafe-inline'",
    "'unsafe-eval'",
    "'unsafe-hashes'",
    "*",
    "data:",
    "http:",
    "https:",
}
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>\s*\S", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\s(on[a-z]+)\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""\b(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)


def parse_csp(header: str) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for directive in header.split(";"):
        parts = directive.split()
        if parts:
            policy.setdefault(parts[0].lower(), parts[1:])
    return policy


def _effective(policy: dict[str, list[str]], directive: str) -> list[str] | None:
    """The sources a fetch directive allows (it falls back to default-src)."""
    return policy.get(directive, policy.get("default-src"))


def csp_problems(header: str | None, html: bool) -> list[str]:
    if not header:
        return ["no Content-Security-Policy"]
    policy = parse_csp(header)
    problems = []
    default = policy.get("default-src")
    if default not in (["'self'"], ["'none'"]):
        problems.append(f"default-src is {default}, expected 'self'")
    for directive in ("script-src", "style-src"):
        sources = _effective(policy, directive) or []
        if not sources or set(sources) - {"'self'", "'none'"}:
            problems.append(f"{directive} allows {sources}")
        if UNSAFE_SOURCES & set(sources):
            problems.append(f"{directive} has {sorted(UNSAFE_SOURCES & set(sources))}")
    if _effective(policy, "object-src") != ["'none'"]:
        problems.append(f"object-src is {_effective(policy, 'object-src')}, expected 'none'")
    if html:
        # These do not fall back to default-src: an HTML page must state them.
        for directive, expected in (
            ("base-uri", ["'none'"]),
            ("frame-ancestors", ["'none'"]),
            ("form-action", ["'self'"]),
        ):
            if policy.get(directive) != expected:
                problems.append(f"{directive} is {policy.get(directive)}, expected {expected}")
    return problems


def cookie_problems(response: TestResponse, secure: bool) -> list[str]:
    problems = []
    for cookie in response.headers.getlist("Set-Cookie"):
        name = cookie.split("=", 1)[0]
        attributes = {
            part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]
        }
        if "httponly" not in attributes:
            problems.append(f"cookie {name} is not HttpOnly")
        if attributes.get("samesite", "").lower() not in ("samesite=lax", "samesite=strict"):
            problems.append(f"cookie {name} is not SameSite=Lax")
        if secure and "secure" not in attributes:
            problems.append(f"cookie {name} is not Secure")
    return problems


def response_problems(response: TestResponse, secure_cookies: bool = False) -> list[str]:
    html = response.mimetype == "text/html"
    problems = csp_problems(response.headers.get("Content-Security-Policy"), html)
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if response.headers.get("Referrer-Policy") not in SAFE_REFERRER_POLICIES:
        problems.append(f"Referrer-Policy is {response.headers.get('Referrer-Policy')}")
    if html and response.headers.get("X-Frame-Options") != "DENY":
        problems.append("no X-Frame-Options: DENY (older browsers ignore frame-ancestors)")
    problems += cookie_problems(response, secure_cookies)
    return problems


def markup_problems(body: str) -> list[str]:
    """What the strict CSP would block (or an injection would use) in an HTML body."""
    problems = []
    if match := INLINE_SCRIPT.search(body):
        problems.append(f"inline script: {match.group(0)[:80]}")
    if match := EVENT_HANDLER.search(body):
        problems.append(f"event handler attribute {match.group(1)}: {match.group(0)[:80]}")
    if match := STYLE_ATTRIBUTE.search(body):
        problems.append(f"style attribute: {match.group(0)[:80]}")
    if match := JAVASCRIPT_URL.search(body):
        problems.append(f"javascript: URL: {match.group(0)[:80]}")
    return problems


def _cases_by_world(cases: list[Case]) -> list[list[Case]]:
    """Cases without setup share one world; each case with a setup gets its own."""
    plain = [case for case in cases if case.setup is None]
    return [plain] + [[case] for case in cases if case.setup is not None]


def sweep(
    app: Flask,
    f: Any,
    login_as: Callable[[Any], FlaskClient],
    role: str,
    check: Callable[[str, TestResponse], list[str]],
    cases: list[Case] = GET_CASES,
    skip_streams_and_files: bool = False,
    prepare: Callable[[list[Any], Any], None] | None = None,
) -> tuple[list[str], int]:
    """Request each case as `role`, as a page and as an htmx fragment; `check` lists the
    problems of each answer. `prepare(worlds, f)` runs once every world is built."""
    failures: list[str] = []
    seen = 0
    groups = _cases_by_world(cases)
    worlds = []
    for group in groups:
        world = f.world()
        for case in group:
            if case.setup:
                case.setup(world, f)
        worlds.append(world)
    if prepare is not None:
        prepare(worlds, f)
    requests = []
    for group, world in zip(groups, worlds, strict=True):
        client = client_for(app, login_as, world, role)
        for case in group:
            url = case.url(world)
            if not (skip_streams_and_files and is_stream_or_file(case, url)):
                requests.append((client, url))
    for client, url in requests:
        for fragment in (False, True):
            fresh_session()
            response = client.get(url, headers={"HX-Request": "true"} if fragment else {})
            try:
                label = f"{role} GET {url}{' (htmx)' if fragment else ''} → {response.status_code}"
                if response.status_code >= 500:
                    failures.append(f"{label}: server error")
                failures += [f"{label}: {problem}" for problem in check(url, response)]
                seen += 1
            finally:
                response.close()  # an event stream is never read to its (missing) end
    return failures, seen


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_fragment_sends_the_security_headers(
    role: str, app: Flask, f: Any, login_as: Callable[[Any], FlaskClient]
) -> None:
    def check(url: str, response: TestResponse) -> list[str]:
        problems = response_problems(response)
        if response.mimetype == "text/html":
            problems += markup_problems(response.get_data(as_text=True))
        return problems

    failures, seen = sweep(app, f, login_as, role, check)
    assert seen >= 2 * len(GET_CASES) > 0
    assert not failures, "\n".join(failures)


def _login(client: FlaskClient, email: str) -> TestResponse:
    return client.post("/connexion", data={"email": email, "password": PASSWORD})


def _session_cookie(response: TestResponse, app: Flask) -> str:
    name = app.config["SESSION_COOKIE_NAME"]
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert cookies, f"no {name} cookie set: {response.headers.getlist('Set-Cookie')}"
    return cookies[-1]


def test_session_cookie_is_httponly_and_samesite_lax(app: Flask, f: Any) -> None:
    user = f.teacher(password=PASSWORD)
    response = _login(app.test_client(), user.email)
    assert response.status_code == 302
    cookie = _session_cookie(response, app)
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags  # the test config serves plain http


def test_session_cookie_is_secure_when_configured(app: Flask, f: Any) -> None:
    user = f.teacher(password=PASSWORD)
    with app_config(app, SESSION_COOKIE_SECURE=True):
        response = _login(app.test_client(), user.email)
    assert response.status_code == 302
    flags = [part.strip().lower() for part in _session_cookie(response, app).split(";")]
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags


def test_cookies_are_secure_by_default_outside_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import Config

    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.setenv("SECRET_KEY", "x")  # no key file written to instance/
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    config = Config()
    assert config.SESSION_COOKIE_SECURE is True
    assert config.SESSION_COOKIE_HTTPONLY is True
    assert config.SESSION_COOKIE_SAMESITE == "Lax"
    assert config.REMEMBER_COOKIE_HTTPONLY is True


def test_hsts_is_sent_over_https_only(app: Flask, f: Any, login_as: Any) -> None:
    world = f.world()
    client = login_as(world.teacher)
    url = f"/periodes/{world.period.id}"
    fresh_session()
    secure = client.get(url, base_url="https://localhost")
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(secure.headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 15552000
    assert "Strict-Transport-Security" not in app.test_client().get("/connexion").headers


def test_error_pages_send_the_headers_too(app: Flask, f: Any, login_as: Any) -> None:
    world = f.world()
    client = login_as(world.teacher)
    for url in ("/cette-page-n-existe-pas", f"/periodes/{world.other_period.id}"):
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            assert response.status_code == 404
            problems = response_problems(response) + markup_problems(
                response.get_data(as_text=True)
            )
            assert not problems, (url, headers, problems)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("default-src 'self'; script-src 'self' 'unsafe-inline'", "script-src has"),
        ("default-src *", "default-src is"),
        (
            "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'",
            "frame-ancestors",
        ),
        ("default-src 'self'; style-src 'self' 'unsafe-inline'", "style-src has"),
    ],
)
def test_the_csp_check_catches_weak_policies(header: str, expected: str) -> None:
    assert any(expected in problem for problem in csp_problems(header, html=True))


def test_the_markup_check_catches_inline_code() -> None:
    assert markup_problems("<div><script>alert(1)</script></div>")
    assert markup_problems('<img src="x" onerror="alert(1)">')
    assert markup_problems('<p style="color:red">')
    assert markup_problems('<a href="javascript:alert(1)">')
    assert not markup_problems('<script src="/static/js/app.js" defer></script><p class="x">')
