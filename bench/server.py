"""A real server for the benchmark: gunicorn (gthread) on 127.0.0.1 against the benchmark
database, and a signed-in HTTP session (cookie + CSRF token) obtained through the login form."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.generate import DATA_DIR, ROOT, SECRET_KEY

GUNICORN = Path(sys.executable).with_name("gunicorn")
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str  # http://127.0.0.1:<port>
    pid: int  # gunicorn's master process

    def cpu_seconds(self) -> float:
        """CPU time used so far by the master and its workers (Linux /proc)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(stat.parent.name) == self.pid or int(fields[1]) == self.pid:
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total


@contextmanager
def gunicorn(
    url: str, workers: int = 2, threads: int = 16, wsgi: str | None = None
) -> Iterator[Server]:
    """Serve the app with gunicorn.conf.py (gthread) on a free 127.0.0.1 port; yields the
    server and stops it (its whole process group) on exit. `wsgi` replaces the config's
    application (e.g. "bench.gzip_wsgi:app")."""
    port = free_port()
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=url,
        SECRET_KEY=SECRET_KEY,
        SESSION_COOKIE_SECURE="0",
        PASSERELLE_INSTANCE=str(DATA_DIR),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_THREADS=str(threads),
    )
    env.pop("GUNICORN_ACCESS_LOG", None)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log = (DATA_DIR / "gunicorn.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 — our own venv's gunicorn, fixed arguments
        [str(GUNICORN), "-c", "gunicorn.conf.py", *([wsgi] if wsgi else [])],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield Server(base, process.pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited ({process.returncode}); see {DATA_DIR}/gunicorn.log"
            )
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {base} within {timeout} s")


@dataclass
class HttpSession:
    base: str
    cookie: str  # "passerelle_session=…", ready for a Cookie header
    csrf: str  # for the X-CSRFToken header of POSTs


def sign_in(base: str, email: str, password: str, landing: str) -> HttpSession:
    """Sign in through the login form like a browser, then open `landing` so the session
    holds a CSRF token; returns the cookie and the token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/connexion", timeout=30) as response:
        page = response.read().decode()
    token = _CSRF_INPUT.search(page) or _CSRF_META.search(page)
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    form = urllib.parse.urlencode(
        {"email": email, "password": password, "csrf_token": token.group(1)}
    ).encode()
    with opener.open(f"{base}/connexion", data=form, timeout=30) as response:
        if "/connexion" in response.url:
            raise RuntimeError(f"sign-in as {email} failed")
    with opener.open(f"{base}{landing}", timeout=60) as response:
        page = response.read().decode()
    meta = _CSRF_META.search(page)
    if meta is None:
        raise RuntimeError(f"no CSRF token on {landing}")
    cookies = [f"{c.name}={c.value}" for c in jar if c.name == "passerelle_session"]
    if not cookies:
        raise RuntimeError("no session cookie after sign-in")
    return HttpSession(base=base, cookie=cookies[0], csrf=meta.group(1))
