"""The production-like world of the fault suite, all started by the suite on free ports of
127.0.0.1: a throwaway PostgreSQL cluster (initdb + pg_ctl, as the `postgres` user when run by
root), a `redis-server` that can be stopped and started again on the same port, gunicorn from
gunicorn.conf.py (2 workers) with hooks that log each request's start and end per worker (so a
worker can be killed in the middle of a batch), and a TCP proxy that forwards a request and
drops the answer the server sent (the network cut after the commit)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import BASE_DIR

GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Postgres:
    """A PostgreSQL cluster of its own in `root`, on a free port (fsync off: a test cluster)."""

    def __init__(self, root: Path) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found in /usr/lib/postgresql")
        self.bin = bindir
        self.root = root
        self.data = root / "pgdata"
        self.port = free_port()
        self.log = root / "postgres.log"
        self.as_user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        done = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.decode(errors='replace')}")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o777)
        for parent in self.root.parents:  # the postgres user must reach its directory
            if parent == Path(tempfile.gettempdir()) or parent == parent.parent:
                break
            parent.chmod(parent.stat().st_mode | 0o711)
        self.data.mkdir()
        if self.as_user:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
            self.log.touch()
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()

    def _options(self) -> str:
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
                  "-w", "start")  # fmt: skip

    def restart(self) -> None:
        """A fast restart: open connections are cut, transactions in flight rolled back."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-o", self._options(), "-w",
                  "restart")  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


# --- Redis ------------------------------------------------------------------------------------


class Redis:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


# --- gunicorn ---------------------------------------------------------------------------------

HOOKS = """
exec(open({conf!r}).read())

import time as _chaos_time

def _chaos_log(kind, worker, req):
    with open({log!r}, "a") as log:
        moment = _chaos_time.monotonic()
        log.write(f"{{kind}} {{worker.pid}} {{moment:.4f}} {{req.method}} {{req.path}}\\n")

def pre_request(worker, req):
    _chaos_log("start", worker, req)

def post_request(worker, req, environ, resp):
    _chaos_log("end", worker, req)
"""


@dataclass
class Gunicorn:
    root: Path
    database_url: str
    redis_url: str | None
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def request_log(self) -> Path:
        return self.root / "gunicorn-requests.log"

    @property
    def output(self) -> Path:
        return self.root / "gunicorn.out"

    def start(self) -> None:
        self.request_log.touch()
        config = self.root / "gunicorn-chaos.conf.py"
        config.write_text(
            HOOKS.format(conf=str(BASE_DIR / "gunicorn.conf.py"), log=str(self.request_log))
        )
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": "chaos-secret",
            "SESSION_COOKIE_SECURE": "0",
            "PASSERELLE_INSTANCE": str(self.root),
            "REDIS_URL": self.redis_url or "",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(self.workers),
        }
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(GUNICORN), "-c", str(config)], cwd=BASE_DIR, env=env, stdout=sink,
                stderr=sink,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.output.read_text()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response,
            ):
                if response.status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start:\n{self.output.read_text()}")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        pids = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.process.pid and fields[0] != "Z":
                    pids.append(int(Path(stat).parent.name))
        return sorted(pids)

    def busy_workers(self, path: str = "/api/sync") -> dict[int, float]:
        """Workers with a request to `path` started and not yet answered: pid → its start."""
        open_requests: dict[int, list[float]] = {}
        for line in self.request_log.read_text().splitlines():
            parts = line.split(" ", 4)
            if len(parts) < 5 or parts[4] != path:
                continue
            kind, pid, moment = parts[0], int(parts[1]), float(parts[2])
            if kind == "start":
                open_requests.setdefault(pid, []).append(moment)
            elif open_requests.get(pid):
                open_requests[pid].pop(0)
        alive = set(self.worker_pids())
        return {pid: min(times) for pid, times in open_requests.items() if times and pid in alive}

    def kill_worker_mid_batch(self, timeout: float = 15) -> tuple[int, float] | None:
        """kill -9 a worker while it is applying a sync batch; (pid, how long the batch had
        been running) or None if no batch was in flight within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self.busy_workers()
            if busy:
                pid, started = min(busy.items(), key=lambda item: item[1])
                age = time.monotonic() - started
                if age >= 0.005:  # inside the batch, not at its first byte
                    os.kill(pid, signal.SIGKILL)
                    self._await_replacement(pid)
                    return pid, age
            time.sleep(0.005)
        return None

    def _await_replacement(self, killed: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if killed not in pids and len(pids) >= self.workers:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def errors_logged(self) -> list[str]:
        """Tracebacks gunicorn's error log holds (an unexpected exception in the app)."""
        text = self.output.read_text(errors="replace")
        return [chunk for chunk in text.split("\n[") if "Traceback" in chunk]


# --- a proxy that loses answers ---------------------------------------------------------------


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class DropProxy:
    """Forwards each connection to `target_port`; for POST /api/sync requests chosen by
    `drop_every` (every n-th), it waits for the server's whole answer, then resets the
    client's connection without passing it on. One request per connection (the devices send
    `Connection: close`)."""

    def __init__(self, target_port: int, drop_every: int = 3) -> None:
        self.target_port = target_port
        self.drop_every = drop_every
        self.port = free_port()
        self.sync_posts = 0
        self.dropped = 0
        self.dropped_statuses: list[int] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._stop = False
        threading.Thread(target=self._accept, daemon=True, name="chaos-proxy").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            request = _read_request(client)
            if not request:
                return
            drop = False
            if request.startswith(b"POST /api/sync "):
                with self._lock:
                    self.sync_posts += 1
                    drop = self.sync_posts % self.drop_every == 0
            with socket.create_connection(("127.0.0.1", self.target_port), 10) as upstream:
                upstream.settimeout(60)
                upstream.sendall(request)
                answer = b""
                while chunk := upstream.recv(65536):
                    answer += chunk
                    if not drop:
                        client.sendall(chunk)
            if drop:
                status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
                with self._lock:
                    self.dropped += 1
                    self.dropped_statuses.append(status)
                # RST instead of FIN: the device sees the connection broken, no answer.
                client.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
        except OSError:
            pass
        finally:
            client.close()

    def close(self) -> None:
        self._stop = True
        self._server.close()


def describe(obj: Any) -> str:
    return repr(obj)
