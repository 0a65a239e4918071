"""Live-update streams at school scale (`make bench-streams`): 1,000 open server-sent-events
streams on the stream server (gunicorn_streams.conf.py, gevent) beside the page server
(gunicorn.conf.py, gthread), both sharing Redis, as in production behind the reverse proxy.

Measures the stream worker's memory per open stream (RSS delta / streams) and its threads, the
delivery latency of a rating saved by a tutor on the page server to every listener of that
assessment (p50 / p95 / max, from the moment the save is sent), and a light page mix on the
page server without streams and then with the 1,000 streams open and the ratings flowing.
Writes bench/streams.json and bench/streams.md. Bounded: about three minutes on 2 busy cores.

    python -m bench.streams [--streams 1000] [--saves 60] [--mix-seconds 15]

Uses Redis at REDIS_URL (default redis://127.0.0.1:6379/0, with a channel prefix of its own), or
starts a redis-server of its own when that one does not answer.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from bench.generate import DATA_DIR, PASSWORD, ROOT, SECRET_KEY, Scenario, bench_app, generate
from bench.server import HttpSession, free_port, sign_in

GUNICORN = Path(sys.executable).with_name("gunicorn")
SQLITE = DATA_DIR / "streams.sqlite"
OUT_JSON = ROOT / "bench" / "streams.json"
OUT_MD = ROOT / "bench" / "streams.md"
PARTS = b"event: parts"
LISTENERS = (("teacher", 3), ("tutor", 2))  # per assessment: 3 teacher tabs, 2 tutor tabs


# --- servers ------------------------------------------------------------------------------------


@dataclass
class Served:
    port: int
    master: int

    @property
    def workers(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.master:
                pids.append(int(stat.parent.name))
        return pids

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [self.master, *self.workers]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total


def proc_status(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure (VmRSS in kB, Threads)."""
    found = re.search(rf"^{key}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(found.group(1)) if found else 0


@contextmanager
def serve(
    config: str,
    database_url: str,
    redis_url: str,
    prefix: str,
    stream_workers: int = 1,
    workers: int = 2,
    threads: int = 16,
) -> Iterator[Served]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        SESSION_COOKIE_SECURE="0",
        PASSERELLE_INSTANCE=str(DATA_DIR),
        REDIS_URL=redis_url,
        LIVE_REDIS_PREFIX=prefix,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_STREAMS_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_THREADS=str(threads),
        GUNICORN_STREAMS_WORKERS=str(stream_workers),
    )
    env.pop("GUNICORN_ACCESS_LOG", None)
    log = (DATA_DIR / f"{Path(config).stem}.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 — our own venv's gunicorn, fixed arguments
        [str(GUNICORN), "-c", config],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{config} did not start; see {log.name}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                time.sleep(0.3)
        yield Served(port, process.pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@contextmanager
def redis_url_for_bench() -> Iterator[str]:
    """REDIS_URL (default redis://127.0.0.1:6379/0) when it answers, else a redis-server of
    our own on a free 127.0.0.1 port for the length of the run."""
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        yield url
        return
    except redis.RedisError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(f"Redis unreachable at {url} and no redis-server to start")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 — the system's redis-server, fixed arguments
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        own = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(own, socket_connect_timeout=1).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield own
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- streams ------------------------------------------------------------------------------------


@dataclass
class Stream:
    sock: socket.socket
    assessment: int | None  # None: a period view
    parts: int = 0  # "parts" events received (a rated item's fragment)
    arrivals: list[float] = field(default_factory=list)
    tail: bytes = b""
    closed: bool = False


def assessment_listeners(
    found: list[Target], teacher_cookie: str, tutors: dict[str, HttpSession]
) -> list[tuple[str, str, int | None]]:
    """The streams listening to each target assessment: LISTENERS tabs per role, each with its
    signed-in cookie, stream path and assessment id (what `deliveries` matches saves on)."""
    wanted: list[tuple[str, str, int | None]] = []
    for target in found:
        for role, tabs in LISTENERS:
            cookie = teacher_cookie if role == "teacher" else tutors[target.tutor_email].cookie
            wanted += [
                (cookie, f"/events/bilans/{target.assessment_id}", target.assessment_id)
            ] * tabs
    return wanted


def open_streams(port: int, wanted: list[tuple[str, str, int | None]]) -> list[Stream]:
    """Opens (cookie, path, assessment) streams in batches; each must answer 200 and its
    first comment before the next batch."""
    streams: list[Stream] = []
    for start in range(0, len(wanted), 50):
        batch = []
        for cookie, path, assessment in wanted[start : start + 50]:
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            client = uuid.uuid4().hex[:16]
            sock.sendall(
                f"GET {path}?client={client} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            batch.append(Stream(sock, assessment))
        for stream in batch:
            seen = b""
            while b": stream open" not in seen:
                chunk = stream.sock.recv(4096)
                if not chunk:
                    raise RuntimeError(f"stream closed before it opened: {seen[:200]!r}")
                seen += chunk
            if not seen.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"stream refused: {seen[:200]!r}")
            stream.sock.setblocking(False)
        streams.extend(batch)
    return streams


class Reader(threading.Thread):
    """Reads every stream in one thread (epoll) and timestamps each "parts" event."""

    def __init__(self, streams: list[Stream]) -> None:
        super().__init__(daemon=True)
        self.selector = selectors.DefaultSelector()
        for stream in streams:
            self.selector.register(stream.sock, selectors.EVENT_READ, stream)
        self.stop = threading.Event()
        self.cpu = 0.0  # CPU seconds this thread has used (updated as it reads)

    def run(self) -> None:
        started = time.thread_time()
        while not self.stop.is_set():
            self.cpu = time.thread_time() - started
            for key, _ in self.selector.select(timeout=0.2):
                stream: Stream = key.data
                now = time.monotonic()
                try:
                    data = stream.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    stream.closed = True
                    self.selector.unregister(stream.sock)
                    continue
                found = (stream.tail + data).count(PARTS)
                if found:
                    stream.parts += found
                    stream.arrivals.extend([now] * found)
                stream.tail = data[-len(PARTS) :]


# --- a light page mix ---------------------------------------------------------------------------


class PageMix(threading.Thread):
    """One signed-in user reading pages on the page server, one after the other."""

    def __init__(self, port: int, session: HttpSession, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.session, self.paths = port, session, paths
        self.stop = threading.Event()
        self.timings: list[float] = []
        self.errors = 0

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        index = 0
        while not self.stop.is_set():
            path = self.paths[index % len(self.paths)]
            index += 1
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Cookie": self.session.cookie})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    self.errors += 1
            except (OSError, http.client.HTTPException):
                self.errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            self.timings.append(time.perf_counter() - started)


@contextmanager
def page_mix(
    port: int, sessions: list[HttpSession], paths: list[str], pdf: str | None = None
) -> Iterator[dict[str, Any]]:
    users = [PageMix(port, session, paths) for session in sessions]
    # One more user downloading a PDF again and again (CPU-heavy), not counted in the mix.
    printer = PageMix(port, sessions[0], [pdf]) if pdf else None
    result: dict[str, Any] = {}
    started = time.monotonic()
    for user in [*users, *([printer] if printer else [])]:
        user.start()
    try:
        yield result
    finally:
        for user in [*users, *([printer] if printer else [])]:
            user.stop.set()
        for user in [*users, *([printer] if printer else [])]:
            user.join()
        seconds = time.monotonic() - started
        timings = sorted(t for user in users for t in user.timings)
        result.update(
            users=len(users),
            seconds=round(seconds, 1),
            requests=len(timings),
            req_per_s=round(len(timings) / seconds, 1),
            p50_ms=round(1000 * _quantile(timings, 0.5), 1),
            p95_ms=round(1000 * _quantile(timings, 0.95), 1),
            errors=sum(user.errors for user in users),
        )
        if printer is not None:
            result["pdfs"] = len(printer.timings)
            result["pdf_p50_ms"] = round(1000 * _quantile(printer.timings, 0.5), 1)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- beside the full page mix (bench/run.py, `make bench`) ---------------------------------------


class PublishWatch(threading.Thread):
    """Subscribes to the run's Redis channels like the stream server does, and timestamps
    each item_saved event: the moment the event exists, from which "event → listeners" runs."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        super().__init__(daemon=True)
        import redis

        self.pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(prefix + "assessment:*")
        self.prefix = prefix
        self.seen: list[tuple[float, str, str]] = []  # (time, topic, item key)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is None or message.get("type") != "pmessage":
                continue
            now = time.monotonic()
            try:
                payload = json.loads(message["data"])
            except ValueError:
                continue
            topic = str(payload.get("topic"))
            self.seen.append((now, topic, str((payload.get("data") or {}).get("item_key"))))
        self.pubsub.close()

    def published(self, topic: str, key: str, after: float) -> float | None:
        return next((t for t, tp, k in self.seen if t >= after and tp == topic and k == key), None)


@dataclass
class Save:
    target: Target
    key: str
    sent: float
    answered: float
    status: int


class Saver(threading.Thread):
    """A tutor of each listened-to assessment rating one item after the other (round robin over
    its `share` of the targets), `pause` seconds apart, while the mix runs."""

    def __init__(
        self,
        port: int,
        sessions: dict[str, HttpSession],
        share: list[Target],
        scenario: Scenario,
        codes: list[str],
        pause: float,
        offset: int,
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.sessions, self.share = port, sessions, share
        self.scenario, self.codes, self.pause, self.offset = scenario, codes, pause, offset
        self.saves: list[Save] = []
        self.stop = threading.Event()

    def run(self) -> None:
        number = 0
        criteria = self.scenario.criterion_ids
        while not self.stop.is_set():
            target = self.share[number % len(self.share)]
            key = f"criterion:{criteria[(number + self.offset) % len(criteria)]}"
            value = self.codes[(number + self.offset) % len(self.codes)]
            number += 1
            sent = time.monotonic()
            try:
                status = save_rating(
                    self.port, self.sessions[target.tutor_email], target, key, value
                )
            except (OSError, http.client.HTTPException):
                status = 0
            self.saves.append(Save(target, key, sent, time.monotonic(), status))
            self.stop.wait(self.pause)


def _ms(values: list[float], q: float) -> float:
    return round(1000 * _quantile(values, q), 1)


def deliveries(
    saves: list[Save],
    by_assessment: dict[int, list[Stream]],
    published: Any,
) -> dict[str, Any]:
    """Each save's delivery to every listener of its assessment: a listener's first fragment
    after the save was sent and before the next save of the same assessment is its copy.
    `published(topic, item_key, after)` is when the event was seen on Redis (or None)."""
    saves = sorted(saves, key=lambda s: s.sent)
    from_send, from_answer, from_event, first_from_event = [], [], [], []
    missed = failed = unseen = 0
    for number, save in enumerate(saves):
        if save.status != 200:
            failed += 1
            continue
        later = [s.sent for s in saves[number + 1 :] if s.target is save.target]
        until = later[0] if later else float("inf")
        listeners = by_assessment[save.target.assessment_id]
        arrivals = []
        for stream in listeners:
            first = next((t for t in stream.arrivals if save.sent <= t < until), None)
            if first is None:
                missed += 1
            else:
                arrivals.append(first)
        if len(arrivals) < len(listeners):
            continue
        last = max(arrivals)
        from_send.append(last - save.sent)
        from_answer.append(max(0.0, last - save.answered))
        event = published(f"assessment:{save.target.assessment_id}", save.key, save.sent)
        if event is None:
            unseen += 1
        else:
            from_event.append(max(0.0, last - event))
            first_from_event.append(max(0.0, min(arrivals) - event))
    answers = [s.answered - s.sent for s in saves]
    return {
        "saves": len(saves),
        "saves_failed": failed,
        "delivered_to_all": len(from_send),
        "missed_deliveries": missed,
        "events_not_seen_on_redis": unseen,
        "event_p50_ms": _ms(from_event, 0.5),
        "event_p95_ms": _ms(from_event, 0.95),
        "event_max_ms": round(1000 * max(from_event, default=0), 1),
        "event_first_p50_ms": _ms(first_from_event, 0.5),
        "event_first_p95_ms": _ms(first_from_event, 0.95),
        "send_p50_ms": _ms(from_send, 0.5),
        "send_p95_ms": _ms(from_send, 0.95),
        "after_answer_p50_ms": _ms(from_answer, 0.5),
        "after_answer_p95_ms": _ms(from_answer, 0.95),
        "save_answer_p50_ms": _ms(answers, 0.5),
        "save_answer_p95_ms": _ms(answers, 0.95),
    }


def beside_mix(
    scenario: Scenario,
    mix: Any,
    seconds: float,
    *,
    streams: int = 1000,
    assessments: int = 30,
    pause: float = 0.1,
    savers: int = 3,
) -> dict[str, Any]:
    """The page mix of bench/run.py while `streams` streams are open on the stream server.

    `mix(session, seconds)` runs the mix against a signed-in session of the page server and
    returns its figures (requests, seconds, rps, p50_ms, p95_ms, errors …). The page server
    has the mix's settings (gunicorn.conf.py, 2 × 16 gthread) plus REDIS_URL; the stream
    server is gunicorn_streams.conf.py (1 gevent worker). During the mix, `savers` tutors rate
    items of the listened-to assessments (not the mix's own assessment, which has no
    listener), and every listener's copy of each rating is timestamped: from the save sent,
    from the save answered, and from the event on Redis (what "an event reaches all listeners"
    measures). Also measured: memory per open stream (growth of the stream worker's RSS), the
    CPU of both servers and of the load generators (wrk, this process's listeners)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * streams + 500)), hard))
    prefix = f"passerelle-bench-{uuid.uuid4().hex[:8]}:"
    found, codes = targets(scenario, assessments + 1)
    found = [t for t in found if t.assessment_id != scenario.assessment_id][:assessments]
    result: dict[str, Any] = {"load_before": [round(x, 1) for x in os.getloadavg()]}
    with (
        redis_url_for_bench() as redis_url,
        serve("gunicorn.conf.py", scenario.url, redis_url, prefix) as pages,
        serve("gunicorn_streams.conf.py", scenario.url, redis_url, prefix) as live,
    ):
        base = f"http://127.0.0.1:{pages.port}"
        teacher = sign_in(base, scenario.teacher_email, PASSWORD, f"/periodes/{scenario.period_id}")
        tutors = {
            t.tutor_email: sign_in(
                base, t.tutor_email, PASSWORD, f"/portfolios/{t.portfolio_id}/bilan"
            )
            for t in found
        }
        mix(teacher, 3)  # warm-up, as bench/run.py does
        (worker,) = live.workers
        warm = open_streams(
            live.port, [(teacher.cookie, f"/events/periodes/{scenario.period_id}", None)]
        )
        time.sleep(1)
        rss_before = proc_status(worker, "VmRSS")
        wanted = assessment_listeners(found, teacher.cookie, tutors)
        on_assessments = len(wanted)
        period = f"/events/periodes/{scenario.period_id}"
        wanted += [(teacher.cookie, period, None)] * (streams - on_assessments)
        print(f"  opening {len(wanted)} streams …", flush=True)
        opened_at = time.monotonic()
        opened = open_streams(live.port, wanted)
        open_seconds = time.monotonic() - opened_at
        time.sleep(2)
        rss_open = proc_status(worker, "VmRSS")
        reader = Reader(opened)
        reader.start()
        watch = PublishWatch(redis_url, prefix)
        watch.start()
        idle_cpu = live.cpu_seconds()
        time.sleep(5)
        idle_cpu = (live.cpu_seconds() - idle_cpu) / 5
        share = [found[i::savers] for i in range(savers)]
        workers = [
            Saver(pages.port, tutors, part, scenario, codes, pause, offset)
            for offset, part in enumerate(share)
            if part
        ]
        print(f"  page mix with {len(opened)} streams open and ratings flowing …", flush=True)
        cpu = (pages.cpu_seconds(), live.cpu_seconds(), time.process_time())
        reader_cpu = reader.cpu
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        for saver in workers:
            saver.start()
        figures = mix(teacher, seconds)
        for saver in workers:
            saver.stop.set()
        for saver in workers:
            saver.join()
        waited = time.monotonic()
        cpu_pages = pages.cpu_seconds() - cpu[0]
        cpu_live = live.cpu_seconds() - cpu[1]
        cpu_self = time.process_time() - cpu[2]
        cpu_reader = reader.cpu - reader_cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_wrk = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        time.sleep(max(0.0, waited + 5 - time.monotonic()))  # the last deliveries
        reader.stop.set()
        watch.stop.set()
        reader.join()
        watch.join()
        load_end = [round(x, 1) for x in os.getloadavg()]
        rss_after = proc_status(worker, "VmRSS")
        threads = proc_status(worker, "Threads")
        closed = sum(s.closed for s in opened)
        for stream in [*warm, *opened]:
            stream.sock.close()
    by_assessment: dict[int, list[Stream]] = {}
    for stream in opened:
        if stream.assessment is not None:
            by_assessment.setdefault(stream.assessment, []).append(stream)
    saves = [s for saver in workers for s in saver.saves]
    delivery = deliveries(saves, by_assessment, watch.published)
    delivery["parts_on_period_views"] = sum(s.parts for s in opened if s.assessment is None)
    phase = figures["seconds"]
    figures["server_cpu_cores"] = round(cpu_pages / phase, 2)
    figures["server_cpu_ms_per_request"] = round(cpu_pages * 1000 / max(figures["requests"], 1), 1)
    result.update(
        mix=figures,
        streams={
            "open": len(opened),
            "on_assessments": on_assessments,
            "on_period_views": len(opened) - on_assessments,
            "assessments": len(found),
            "listeners_per_assessment": sum(tabs for _, tabs in LISTENERS),
            "seconds_to_open": round(open_seconds, 1),
            "worker_rss_mb_before": round(rss_before / 1024, 1),
            "worker_rss_mb_open": round(rss_open / 1024, 1),
            "worker_rss_mb_after": round(rss_after / 1024, 1),
            "kb_per_stream": round((rss_open - rss_before) / max(len(opened), 1), 1),
            "worker_threads": threads,
            "closed_meanwhile": closed,
        },
        delivery=delivery,
        cpu={
            "stream_server_idle_cores": round(idle_cpu, 3),
            "stream_server_cores": round(cpu_live / phase, 2),
            "page_server_cores": round(cpu_pages / phase, 2),
            "wrk_cores": round(cpu_wrk / phase, 2),
            "listeners_cores": round(cpu_reader / phase, 3),
            "bench_process_cores": round(cpu_self / phase, 2),
        },
        load_end=load_end,
    )
    return result


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Target:
    assessment_id: int
    portfolio_id: int
    tutor_email: str


def targets(scenario: Scenario, count: int) -> tuple[list[Target], list[str]]:
    """Draft assessments of the measured period (with their tutors, who get the benchmark's
    password), and the scale's codes."""
    app = bench_app(scenario.url)
    from app.extensions import db
    from app.models import Assessment, Level, Portfolio, ScaleLevel, User

    with app.app_context():
        rows = db.session.execute(
            select(Assessment.id, Portfolio.id, User.email)
            .join(Portfolio, Portfolio.id == Assessment.portfolio_id)
            .join(User, User.id == Portfolio.tutor_id)
            .where(Portfolio.period_id == scenario.period_id, Assessment.status == "draft")
            .order_by(Assessment.id)
            .limit(count)
        ).all()
        # The generated tutors have no password yet (they would be invited): give the
        # listened-to ones the benchmark's, so they can sign in and rate.
        from app.services.auth import hash_password

        db.session.execute(
            update(User)
            .where(User.email.in_([e for _, _, e in rows]))
            .values(password_hash=hash_password(PASSWORD))
        )
        db.session.commit()
        framework_id = db.session.scalar(
            select(Level.framework_id).where(Level.id == scenario.level_id)
        )
        codes = list(
            db.session.scalars(
                select(ScaleLevel.code)
                .where(ScaleLevel.framework_id == framework_id)
                .order_by(ScaleLevel.position)
            )
        )[1:]
        db.session.remove()
        db.engine.dispose()
    return [Target(a, p, e) for a, p, e in rows], codes


def save_rating(port: int, session: HttpSession, target: Target, key: str, value: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = f"value={value}"
    connection.request(
        "POST",
        f"/portfolios/{target.portfolio_id}/bilan/items/{key}",
        body=body,
        headers={
            "Cookie": session.cookie,
            "X-CSRFToken": session.csrf,
            "HX-Request": "true",
            "X-Live-Client": "bench-saver-" + uuid.uuid4().hex[:8],
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def run(args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * args.streams + 500  # our sockets and, inherited, the stream server's
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, needed)), hard))
    prefix = f"passerelle-bench-{uuid.uuid4().hex[:8]}:"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{SQLITE}"
    print("• generating the school (SQLite) …", flush=True)
    scenario = generate(url)
    found, codes = targets(scenario, args.assessments)
    print(f"  {scenario.seconds} s; {len(found)} draft assessments listened to", flush=True)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "load_before": round(os.getloadavg()[0], 1),
        "database": "SQLite (WAL)",
    }
    with (
        serve("gunicorn.conf.py", url, redis_url, prefix) as pages,
        serve("gunicorn_streams.conf.py", url, redis_url, prefix) as live,
    ):
        base = f"http://127.0.0.1:{pages.port}"
        teacher = sign_in(base, scenario.teacher_email, PASSWORD, f"/periodes/{scenario.period_id}")
        tutors = {
            t.tutor_email: sign_in(
                base, t.tutor_email, PASSWORD, f"/portfolios/{t.portfolio_id}/bilan"
            )
            for t in found
        }
        paths = [
            f"/periodes/{scenario.period_id}",
            f"/portfolios/{scenario.portfolio_id}/bilan",
            "/healthz",
        ]
        mix_sessions = [teacher] * args.mix_users
        print(f"• light page mix, no streams: {args.mix_seconds} s …", flush=True)
        with page_mix(pages.port, mix_sessions, paths) as before:
            time.sleep(args.mix_seconds)
        result["mix_without_streams"] = before

        (worker,) = live.workers
        warm = open_streams(
            live.port, [(teacher.cookie, f"/events/periodes/{scenario.period_id}", None)]
        )
        time.sleep(1)
        rss_before = proc_status(worker, "VmRSS")
        wanted = assessment_listeners(found, teacher.cookie, tutors)
        period_views = args.streams - len(wanted)
        wanted += [(teacher.cookie, f"/events/periodes/{scenario.period_id}", None)] * period_views
        print(f"• opening {len(wanted)} streams …", flush=True)
        opened_at = time.monotonic()
        streams = open_streams(live.port, wanted)
        open_seconds = time.monotonic() - opened_at
        time.sleep(2)
        rss_open = proc_status(worker, "VmRSS")
        result["streams"] = {
            "open": len(streams),
            "on_assessments": len(wanted) - period_views,
            "on_period_views": period_views,
            "listeners_per_assessment": sum(tabs for _, tabs in LISTENERS),
            "assessments": len(found),
            "seconds_to_open": round(open_seconds, 1),
            "worker_rss_mb_before": round(rss_before / 1024, 1),
            "worker_rss_mb_open": round(rss_open / 1024, 1),
            "kb_per_stream": round((rss_open - rss_before) / len(streams), 1),
            "worker_threads": proc_status(worker, "Threads"),
            "stream_server_processes": 1 + len(live.workers),
        }
        print(f"  {result['streams']}", flush=True)

        reader = Reader(streams)
        reader.start()
        print(f"• light page mix, {len(streams)} idle streams open: {args.mix_seconds} s …")
        cpu_idle = live.cpu_seconds()
        with page_mix(pages.port, mix_sessions, paths) as idle:
            time.sleep(args.mix_seconds)
        idle["stream_server_cpu_s_per_s"] = round(
            (live.cpu_seconds() - cpu_idle) / idle["seconds"], 3
        )
        result["mix_with_idle_streams"] = idle
        by_assessment: dict[int, list[Stream]] = {}
        for stream in streams:
            if stream.assessment is not None:
                by_assessment.setdefault(stream.assessment, []).append(stream)
        latencies: list[float] = []
        save_times: list[float] = []
        after_answer: list[float] = []
        missed = 0
        print(f"• {args.saves} rating saves with the page mix running …", flush=True)
        cpu_live = live.cpu_seconds()
        with page_mix(pages.port, mix_sessions, paths) as during:
            phase_started = time.monotonic()
            for number in range(args.saves):
                target = found[number % len(found)]
                listeners = by_assessment[target.assessment_id]
                counts = [s.parts for s in listeners]
                key = f"criterion:{scenario.criterion_ids[number % len(scenario.criterion_ids)]}"
                value = codes[number % len(codes)]
                sent = time.monotonic()
                status = save_rating(pages.port, tutors[target.tutor_email], target, key, value)
                answered = time.monotonic()
                save_times.append(answered - sent)
                if status != 200:
                    raise RuntimeError(f"rating save answered {status}")
                deadline = sent + 5
                while time.monotonic() < deadline:
                    if all(s.parts > c for s, c in zip(listeners, counts, strict=True)):
                        break
                    time.sleep(0.005)
                arrived = [
                    s.arrivals[c] for s, c in zip(listeners, counts, strict=True) if s.parts > c
                ]
                missed += len(listeners) - len(arrived)
                if len(arrived) == len(listeners):
                    latencies.append(max(arrived) - sent)
                    after_answer.append(max(0.0, max(arrived) - answered))
                time.sleep(args.pause)
            phase_seconds = time.monotonic() - phase_started
        cpu_live = live.cpu_seconds() - cpu_live
        reader.stop.set()
        reader.join()
        strangers = sum(s.parts for s in streams if s.assessment is None)
        result["mix_with_streams"] = during
        result["delivery"] = {
            "saves": args.saves,
            "listeners_per_save": sum(tabs for _, tabs in LISTENERS),
            "p50_ms": round(1000 * _quantile(latencies, 0.5), 1),
            "p95_ms": round(1000 * _quantile(latencies, 0.95), 1),
            "max_ms": round(1000 * max(latencies, default=0), 1),
            "mean_ms": round(1000 * statistics.fmean(latencies), 1) if latencies else 0,
            "save_answer_p50_ms": round(1000 * _quantile(save_times, 0.5), 1),
            "save_answer_p95_ms": round(1000 * _quantile(save_times, 0.95), 1),
            "after_answer_p50_ms": round(1000 * _quantile(after_answer, 0.5), 1),
            "after_answer_p95_ms": round(1000 * _quantile(after_answer, 0.95), 1),
            "missed_deliveries": missed,
            "parts_on_period_views": strangers,
            "streams_closed_meanwhile": sum(s.closed for s in streams),
            "stream_server_cpu_s_per_s": round(cpu_live / phase_seconds, 2),
            "worker_rss_mb_after": round(proc_status(worker, "VmRSS") / 1024, 1),
        }
        print(f"  {result['delivery']}", flush=True)
        for stream in [*warm, *streams]:
            stream.sock.close()
        time.sleep(2)
        print(f"• light page mix, streams closed again: {args.mix_seconds} s …", flush=True)
        with page_mix(pages.port, mix_sessions, paths) as after:
            time.sleep(args.mix_seconds)
        result["mix_after_streams"] = after
        if args.compare_seconds:
            pdf = f"/portfolios/{scenario.portfolio_id}/preparer-la-rencontre.pdf"
            print(f"• page mix + a PDF in flight, gthread: {args.compare_seconds} s …", flush=True)
            with page_mix(pages.port, mix_sessions, paths, pdf) as on_gthread:
                time.sleep(args.compare_seconds)
            result["pdf_mix_gthread"] = on_gthread
    if args.compare_seconds:
        # The same pages served by gevent workers (what `make run` does): 2 processes too.
        with serve("gunicorn_streams.conf.py", url, redis_url, prefix, stream_workers=2) as alone:
            base = f"http://127.0.0.1:{alone.port}"
            teacher = sign_in(base, scenario.teacher_email, PASSWORD, paths[0])
            print(f"• page mix + a PDF in flight, gevent: {args.compare_seconds} s …", flush=True)
            with page_mix(alone.port, [teacher] * args.mix_users, paths, pdf) as on_gevent:
                time.sleep(args.compare_seconds)
            result["pdf_mix_gevent"] = on_gevent
            with page_mix(alone.port, [teacher] * args.mix_users, paths) as plain_gevent:
                time.sleep(args.mix_seconds)
            result["mix_gevent"] = plain_gevent
    result["load_after"] = round(os.getloadavg()[0], 1)
    return result


def write_markdown(result: dict[str, Any]) -> str:
    s, d = result["streams"], result["delivery"]
    before, during = result["mix_without_streams"], result["mix_with_streams"]
    idle, after = result["mix_with_idle_streams"], result["mix_after_streams"]
    lines = [
        f"# Live streams benchmark ({result['date']})",
        "",
        f"`make bench-streams` (bench/streams.py) on {result['cpus']} CPUs (load average "
        f"{result['load_before']} before, {result['load_after']} after: the machine is shared), "
        f"{result['database']}, Redis pub/sub between the page server (gunicorn.conf.py, gthread, "
        "2 × 16 threads) and the stream server (gunicorn_streams.conf.py, 1 gevent worker).",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        f"| open streams | {s['open']} ({s['on_assessments']} on {s['assessments']} assessments, "
        f"{s['on_period_views']} on period views), opened in {s['seconds_to_open']} s | 1,000 |",
        f"| stream worker memory | {s['worker_rss_mb_before']} MB → {s['worker_rss_mb_open']} MB: "
        f"**{s['kb_per_stream']} KB per stream** | reported |",
        f"| stream worker threads with all streams open | {s['worker_threads']} | "
        "not one per stream |",
        f"| rating → all {d['listeners_per_save']} listeners of its assessment "
        f"({d['saves']} saves) | p50 {d['p50_ms']} ms, **p95 {d['p95_ms']} ms**, max "
        f"{d['max_ms']} ms; {d['missed_deliveries']} missed | p95 ≤ 1,000 ms |",
        f"| of which: the save's answer (page server) | p50 {d['save_answer_p50_ms']} ms, p95 "
        f"{d['save_answer_p95_ms']} ms | |",
        f"| of which: answer → last listener (Redis, stream server) | p50 "
        f"{d['after_answer_p50_ms']} ms, p95 {d['after_answer_p95_ms']} ms | |",
        f"| fragments sent to streams of other pages | {d['parts_on_period_views']} | 0 |",
        f"| stream server CPU, streams idle / while ratings flow | "
        f"{idle['stream_server_cpu_s_per_s']} / {d['stream_server_cpu_s_per_s']} core | |",
        f"| light page mix, {before['users']} users, no streams | {before['req_per_s']} req/s, "
        f"p50 {before['p50_ms']} ms, p95 {before['p95_ms']} ms, {before['errors']} errors | |",
        f"| same mix, {s['open']} streams open and idle (pings) | {idle['req_per_s']} req/s, "
        f"p50 {idle['p50_ms']} ms, p95 {idle['p95_ms']} ms, {idle['errors']} errors | |",
        f"| same mix, {s['open']} streams open, ratings flowing | {during['req_per_s']} req/s, "
        f"p50 {during['p50_ms']} ms, p95 {during['p95_ms']} ms, {during['errors']} errors | |",
        f"| same mix, streams closed again (the machine's drift) | {after['req_per_s']} req/s, "
        f"p50 {after['p50_ms']} ms, p95 {after['p95_ms']} ms, {after['errors']} errors | |",
    ]
    if "pdf_mix_gevent" in result:
        gt, ge, plain = result["pdf_mix_gthread"], result["pdf_mix_gevent"], result["mix_gevent"]
        lines += [
            "",
            "Why the pages stay on gthread: the same light mix on 2 processes of each worker "
            "class, without and with one more user downloading a PDF (Préparer la rencontre) "
            "again and again.",
            "",
            "| worker class for the pages | mix alone | mix with a PDF in flight | PDFs |",
            "|---|---|---|---|",
            f"| gthread (gunicorn.conf.py) | {before['req_per_s']} req/s, p95 "
            f"{before['p95_ms']} ms | {gt['req_per_s']} req/s, p95 {gt['p95_ms']} ms | "
            f"{gt['pdfs']}, p50 {gt['pdf_p50_ms']} ms |",
            f"| gevent (gunicorn_streams.conf.py) | {plain['req_per_s']} req/s, p95 "
            f"{plain['p95_ms']} ms | {ge['req_per_s']} req/s, p95 {ge['p95_ms']} ms | "
            f"{ge['pdfs']}, p50 {ge['pdf_p50_ms']} ms |",
        ]
    lines += [
        "",
        "Latency is measured from the moment the tutor's save is sent to the page server until "
        "the last of the assessment's listeners has read the item's fragment from the stream "
        "server: commit, Redis publish, fan-out, and one render per user (shared by that user's "
        "tabs) with their own rights. Memory per stream = growth of the stream worker's RSS / "
        "streams opened.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--assessments", type=int, default=30)
    parser.add_argument("--saves", type=int, default=60)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between two saves")
    parser.add_argument("--mix-users", type=int, default=4)
    parser.add_argument("--mix-seconds", type=float, default=15)
    parser.add_argument(
        "--compare-seconds",
        type=float,
        default=15,
        help="page mix with a PDF in flight on gthread, then on gevent workers (0: skip)",
    )
    args = parser.parse_args()
    with redis_url_for_bench() as redis_url:
        result = run(args, redis_url)
    OUT_JSON.write_text(json.dumps(result, indent=2) + "\n")
    OUT_MD.write_text(write_markdown(result))
    print(OUT_MD.read_text())


if __name__ == "__main__":
    main()
