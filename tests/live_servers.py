"""Real servers for the live-update tests: a file SQLite database prepared by the test, then
either a werkzeug threaded server in this process or gunicorn (from gunicorn.conf.py) in a
subprocess, and a tiny cookie-keeping HTTP client with an SSE reader.

The gunicorn helper adds a `pre_request` hook that logs "<worker pid> <method> <path>" for
every request, so a test can tell which worker process holds which stream."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from flask import Flask

from app import create_app
from app.config import BASE_DIR
from app.extensions import db as _db
from tests import factories
from tests.conftest import _test_config, preload_frameworks, reset_schema

GUNICORN = Path(sys.executable).parent / "gunicorn"
LIVE_SECRET = "live-test-secret"  # the servers' SECRET_KEY (a cookie of one opens the other)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Seeded:
    """Ids and sign-in e-mails of a committed `World` (password: factories.PASSWORD)."""

    database_url: str
    emails: dict[str, str]
    ids: dict[str, int]
    names: dict[str, str]


def live_database_url(tmp: Path) -> str:
    """A file SQLite database, or on PostgreSQL runs (TEST_DATABASE_URL) a sibling database
    "<name>_live" that servers in other processes can read (created when missing)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp / 'live.sqlite'}"
    from sqlalchemy import create_engine, text

    base, _, name = url.rpartition("/")
    live_name = f"{name}_live"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": live_name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{live_name}"'))
    admin.dispose()
    return f"{base}/{live_name}"


def seeded_app(
    tmp: Path, database_url: str | None = None, **overrides: Any
) -> tuple[Flask, Seeded]:
    """An app on a fresh database (a file SQLite one by default) holding a committed World."""
    url = database_url or f"sqlite:///{tmp / 'live.sqlite'}"
    config = _test_config(tmp, SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=True)
    app = create_app(**(config | overrides))
    reset_schema(app)
    preload_frameworks(app)
    with app.app_context():
        original = factories.Factory._person

        def _with_password(self: factories.Factory, cls: type, **kw: Any) -> Any:
            kw.setdefault("password", factories.PASSWORD)
            return original(self, cls, **kw)

        factories.Factory._person = _with_password  # type: ignore[method-assign]
        try:
            f = factories.Factory(_db.session)
            w = f.world()
        finally:
            factories.Factory._person = original  # type: ignore[method-assign]
        roles = ("teacher", "learner", "tutor", "master", "admin")
        seeded = Seeded(
            database_url=url,
            emails={role: w.user(role).email for role in roles}
            | {"other_teacher": w.other_teacher.email},
            ids={
                "period": w.period.id,
                "portfolio": w.portfolio.id,
                "classmate_portfolio": w.classmate_portfolio.id,
                "sheet": w.sheet.id,
                "assessment": w.assessment.id,
                "learner": w.learner.id,
                "teacher": w.teacher.id,
            },
            names={"learner": w.learner.full_name, "period": w.period.name},
        )
        _db.session.commit()
        _db.session.remove()
    return app, seeded


@contextmanager
def werkzeug_server(app: Flask) -> Iterator[str]:
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@dataclass
class Gunicorn:
    url: str
    process: subprocess.Popen[bytes]
    request_log: Path
    output: Path

    def workers_for(self, path_prefix: str) -> list[int]:
        """Worker pids that received requests for paths starting with `path_prefix`."""
        pids = []
        for line in self.request_log.read_text().splitlines():
            pid, _method, path = line.split(" ", 2)
            if path.startswith(path_prefix):
                pids.append(int(pid))
        return pids


@contextmanager
def gunicorn_server(
    tmp: Path,
    database_url: str,
    *,
    workers: int = 2,
    threads: int | None = None,
    redis_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    streams: bool = False,
) -> Iterator[Gunicorn]:
    """gunicorn.conf.py (gthread), or with `streams` gunicorn_streams.conf.py (gevent)."""
    port = free_port()
    conf = BASE_DIR / ("gunicorn_streams.conf.py" if streams else "gunicorn.conf.py")
    request_log = tmp / f"requests-{port}.log"
    request_log.touch()
    config = tmp / f"gunicorn-{port}.conf.py"
    config.write_text(
        f"__file__ = {str(conf)!r}\n"
        "exec(open(__file__).read())\n\n"
        "def pre_request(worker, req):\n"
        f"    with open({str(request_log)!r}, 'a') as log:\n"
        "        log.write(f'{worker.pid} {req.method} {req.path}\\n')\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": LIVE_SECRET,
        "SESSION_COOKIE_SECURE": "0",
        "PASSERELLE_INSTANCE": str(tmp),
        "REDIS_URL": redis_url or "",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_STREAMS_BIND": f"127.0.0.1:{port}",
        "GUNICORN_STREAMS_WORKERS": str(workers),
    }
    if threads is not None:
        env["GUNICORN_THREADS"] = str(threads)
    env.update(extra_env or {})
    output = tmp / f"gunicorn-{port}.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(config)], cwd=BASE_DIR, env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, output, workers, request_log)
        yield Gunicorn(url, process, request_log, output)
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: gunicorn.conf.py ends the streams at once
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(
    url: str, process: subprocess.Popen[bytes], output: Path, workers: int, log: Path
) -> None:
    deadline = time.monotonic() + 90  # a busy CI machine imports the app slowly in each worker
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{output.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200 and _booted(output) >= workers:
                    log.write_text("")
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start:\n{output.read_text()}")


def _booted(output: Path) -> int:
    return output.read_text().count("Booting worker")


class Client:
    """A browser-like HTTP client: keeps cookies, signs in through the real form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, timeout: float = 10) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def login(self, email: str) -> None:
        _status, page = self.get("/connexion")
        token = csrf_token(page)
        status, page = self.post(
            "/connexion", {"csrf_token": token, "email": email, "password": factories.PASSWORD}
        )
        assert status == 200 and "Connexion" not in page.split("</title>")[0], page[:500]

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)

    def open_stream(self, path: str, timeout: float = 10) -> SSEStream:
        parts = urllib.parse.urlsplit(self.base)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        connection.request(
            "GET", path, headers={"Cookie": self.cookie_header(), "Accept": "text/event-stream"}
        )
        return SSEStream(connection, connection.getresponse())


def csrf_token(page: str) -> str:
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)
    if tag is None:
        return ""  # CSRF protection disabled in this app
    value = re.search(r'value="([^"]+)"', tag.group(0))
    assert value is not None
    return value.group(1)


class SSEStream:
    def __init__(self, connection: http.client.HTTPConnection, response: Any) -> None:
        self.connection = connection
        self.response = response
        self.status = response.status

    def readline(self) -> str:
        return str(self.response.readline().decode())

    def next_event(self) -> tuple[str, str]:
        """The next named event (comments and pings skipped)."""
        name, data = "", list[str]()
        while True:
            line = self.readline()
            if line == "":
                raise EOFError("stream closed")
            line = line.rstrip("\n")
            if line.startswith(":") or line.startswith("retry:"):
                continue
            if line == "":
                if name or data:
                    return name, "\n".join(data)
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def close(self) -> None:
        self.connection.close()
