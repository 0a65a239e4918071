"""Login throttling holds across worker processes (the counter lives in the database).

Two real gunicorn processes serve the same database — a file SQLite database, or a private
schema of the PostgreSQL database when TEST_DATABASE_URL is set. Ten wrong passwords are
spread over both; the eleventh attempt, with the right password, is refused with 429 by
either process. Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from app.models import Teacher
from app.services.auth import hash_password
from tests.conftest import TEST_DB_URL

PASSWORD = "the right passphrase"
EMAIL = "prof.throttle@test.passerelle.fr"
START_TIMEOUT = 30.0

# Starting two gunicorn processes takes 5-10 s on the 2-core CI machine.
pytestmark = pytest.mark.slow


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class Browser:
    """A cookie-keeping HTTP client for one server, that does not follow redirects."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.origin + path, data=body, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def login(self, email: str, password: str) -> tuple[int, str]:
        status, page = self.request("/connexion")
        assert status == 200, status
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token is not None, "no CSRF token in the sign-in form"
        return self.request(
            "/connexion", {"email": email, "password": password, "csrf_token": token[1]}
        )


def _start_servers(
    env: dict[str, str], logs: list[Path]
) -> list[tuple[subprocess.Popen[bytes], str]]:
    """Start one gunicorn process per log file, in parallel; wait until each answers."""
    processes = []
    for log in logs:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--workers",
                    "1",
                    "--bind",
                    "127.0.0.1:0",
                    "--timeout",
                    "60",
                    "--graceful-timeout",
                    "2",
                    "app:create_app()",
                ],
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        )
    started = []
    for process, log in zip(processes, logs, strict=True):
        started.append((process, _wait_until_listening(process, log)))
    return started


def _wait_until_listening(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
        if match:
            try:
                with urllib.request.urlopen(match[1] + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        return match[1]
            except OSError:
                pass
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database both servers use, holding one teacher with a password."""
    if TEST_DB_URL:
        schema = f"throttle_{secrets.token_hex(4)}"
        admin_engine = create_engine(TEST_DB_URL)
        with admin_engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in TEST_DB_URL else "?"
        url = f"{TEST_DB_URL}{separator}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('throttle') / 'shared.sqlite'}"
    app = create_app(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="x", REDIS_URL=None)
    with app.app_context():
        db.create_all()
        db.session.add(
            Teacher(
                email=EMAIL,
                first_name="Prof",
                last_name="Throttle",
                password_hash=hash_password(PASSWORD),
            )
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    try:
        yield url
    finally:
        if TEST_DB_URL:
            with admin_engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin_engine.dispose()


@pytest.fixture(scope="module")
def servers(shared_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two gunicorn processes on the shared database, for the whole module."""
    tmp = tmp_path_factory.mktemp("servers")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "TEST_DATABASE_URL")
    }
    env.update(
        DATABASE_URL=shared_database,
        SECRET_KEY=secrets.token_urlsafe(32),
        PASSERELLE_INSTANCE=str(tmp / "instance"),
        SESSION_COOKIE_SECURE="0",
    )
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        started = _start_servers(env, [tmp / "server0.log", tmp / "server1.log"])
        yield [origin for _process, origin in started]
    finally:
        for process, _origin in started:
            process.terminate()
        for process, _origin in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def two_servers(servers: list[str], shared_database: str) -> list[str]:
    """The servers, with no failed sign-in recorded yet."""
    engine = create_engine(shared_database)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM login_attempts"))
    engine.dispose()
    return servers


def test_ten_failures_spread_over_two_processes_block_the_eleventh_attempt(
    two_servers: list[str],
) -> None:
    first, second = (Browser(origin) for origin in two_servers)
    assert first.origin != second.origin
    for attempt in range(10):
        browser = (first, second)[attempt % 2]
        status, page = browser.login(EMAIL, f"wrong password {attempt}")
        assert status == 422, (attempt, status, page[:300])
        assert "mot de passe incorrect" in page
    for browser in (first, second):
        status, page = browser.login(EMAIL, PASSWORD)
        assert status == 429, (browser.origin, status, page[:300])
        assert "Trop de tentatives" in page


def test_the_right_password_works_on_either_process_before_the_limit(
    two_servers: list[str],
) -> None:
    """Control: the servers share the account and sign in normally below the limit."""
    first, second = (Browser(origin) for origin in two_servers)
    for attempt in range(9):
        status, _page = (first, second)[attempt % 2].login(EMAIL, "wrong")
        assert status == 422
    status, _page = second.login(EMAIL, PASSWORD)
    assert status == 302
