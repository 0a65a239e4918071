"""`make bench`: generate a school-scale database and measure Passerelle against it.

In one run, per database (SQLite always; PostgreSQL too when BENCH_DATABASE_URL is set):

1. in-process latency (p50/p95 over >= 200 requests, Flask test client, real sign-in and CSRF)
   and SQL statements per request of each page, against `/healthz` timed in the same run;
   bytes of each page and of its htmx fragment, raw and gzipped;
2. throughput and p95 under gunicorn (gthread, 2 processes) with 16 concurrent users on a mix
   of those pages, on 127.0.0.1, time-bounded, counting every non-200 answer as an error
   (wrk when installed — `apt-get install wrk` — else a Python thread-pool load generator);
3. the meeting-grid PDF and the 35-learner pre-agreement batch;

plus the total JavaScript and CSS, gzipped. Writes bench/results.json and bench/results.md.

    python -m bench.run [--requests 200] [--duration 15] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text

from bench import streams as live_streams
from bench.generate import (
    DATA_DIR,
    ROOT,
    Scenario,
    bench_app,
    generate,
    load_scenario,
    postgresql_url,
    sqlite_url,
)
from bench.server import HttpSession, gunicorn, sign_in

BENCH_DIR = Path(__file__).resolve().parent
STATIC = ROOT / "app" / "static"
HEALTHZ_REQUESTS = 500
FRAGMENT_REQUESTS = 50
WARMUP = 5
USERS = 16
SYNC_BATCH = 50
# Budgets (issues 10 and 14). KB = 1000 bytes.
PAGE_FACTOR, PAGE_SLACK_MS = 5, 20.0
RATING_SAVE_P95_MS = 15.0
ASSESSMENT_PAGE_MAX_BYTES = 150_000
JS_GZIP_MAX_BYTES = 50_000
MIN_THROUGHPUT = 150.0
MIX_P95_MS = 200.0  # issue 14: p95 of the mix under gunicorn
MIX_CPU_MS = 10.0  # issue 14: server CPU per request of the mix
SYNC_BATCH_P95_MS = 60.0  # issue 14: the 50-change sync batch on PostgreSQL
STREAMS = 1000  # issue 14: open streams while the mix runs
DELIVERY_P95_MS = 1000.0  # issue 14: an event reaches all listeners of an assessment
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_SKIPPED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


# --- what is measured ---------------------------------------------------------------------------


@dataclass
class Probe:
    name: str
    label: str
    method: str
    path: str
    htmx: bool = False  # send HX-Request (the rating save answers with its fragment)
    form: Callable[[int], dict[str, str]] | None = None
    payload: Callable[[int], Any] | None = None  # JSON body
    budget: str = "page"  # "page" | "rating" | "none"
    fragment: bool = True  # also measure the htmx fragment of this GET


def probes(scenario: Scenario, codes: list[str], has_sync: bool) -> list[Probe]:
    s = scenario
    rated = f"criterion:{s.criterion_ids[0]}"
    found = [
        Probe("period_view", f"Period view ({s.period_learners} learners)", "GET",
              f"/periodes/{s.period_id}"),
        Probe("learner_view", "Learner view (3 portfolios, 18 sheets)", "GET",
              f"/apprenants/{s.learner_id}"),
        Probe("sheet", "Sheet (Contexte)", "GET", f"/fiches/{s.sheet_id}"),
        Probe("framework_grid", "Framework-link grid (MEE)", "GET",
              f"/fiches/{s.sheet_id}/referentiel"),
        Probe("assessment", "Assessment page (MEE)", "GET", f"/portfolios/{s.portfolio_id}/bilan"),
        Probe("rating_save", "One rating save (htmx)", "POST",
              f"/portfolios/{s.portfolio_id}/bilan/items/{rated}", htmx=True,
              form=lambda i: {"value": codes[i % len(codes)]}, budget="rating", fragment=False),
        Probe("dashboard", "Dashboard", "GET", f"/apprenants/{s.learner_id}/tableau-de-bord"),
    ]  # fmt: skip
    if has_sync:
        found.insert(
            6,
            Probe("sync_batch", f"Sync batch ({SYNC_BATCH} changes)", "POST", "/api/sync",
                  payload=lambda i: sync_batch_payload(s, codes, i), fragment=False),
        )  # fmt: skip
    return found


def sync_batch_payload(scenario: Scenario, codes: list[str], iteration: int) -> dict[str, Any]:
    """A device's outbox of SYNC_BATCH changes to as many items of the MEE assessment, each
    with a fresh client UUID, as /api/sync takes them (app/blueprints/sync/openapi.py,
    AssessmentItemChange). No base version: the device saw no earlier value."""
    now = datetime.now(UTC).isoformat()
    return {
        "changes": [
            {
                "uuid": str(uuid.uuid4()),
                "type": "assessment_item",
                "assessment_id": scenario.assessment_id,
                "item_key": f"criterion:{criterion_id}",
                "value": codes[(iteration + n) % len(codes)],
                "device_time": now,
                "base_version": None,
            }
            for n, criterion_id in enumerate(scenario.criterion_ids[:SYNC_BATCH])
        ]
    }


def sync_answer_problem(body: bytes) -> str | None:
    """What is wrong with a sync answer: every change must come back with a receipt."""
    try:
        answer = json.loads(body)
    except ValueError:
        return "not JSON"
    if answer.get("errors"):
        return f"per-change errors: {answer['errors'][:1]}"
    if len(answer.get("receipts", [])) != SYNC_BATCH:
        return f"{len(answer.get('receipts', []))} receipts for {SYNC_BATCH} changes"
    return None


# --- statistics -----------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(ms: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    """Wall-clock percentiles; with `cpu`, the CPU time of the request's thread too (what the
    request costs, whatever else the machine is doing)."""
    result = {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
    }
    if cpu:
        result["cpu_p50_ms"] = round(percentile(cpu, 50), 2)
        result["cpu_p95_ms"] = round(percentile(cpu, 95), 2)
    return result


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


# --- in-process ----------------------------------------------------------------------------


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_SKIPPED):
            self.count += 1


def _test_client_sign_in(client: Any, scenario: Scenario) -> str:
    page = client.get("/connexion").get_data(as_text=True)
    token = _CSRF_INPUT.search(page) or _CSRF_META.search(page)
    assert token is not None, "no CSRF token on the login page"
    answer = client.post(
        "/connexion",
        data={
            "email": scenario.teacher_email,
            "password": scenario.password,
            "csrf_token": token.group(1),
        },
    )
    assert answer.status_code == 302, f"sign-in failed ({answer.status_code})"
    page = client.get(f"/periodes/{scenario.period_id}").get_data(as_text=True)
    meta = _CSRF_META.search(page)
    assert meta is not None, "no CSRF token on the period view"
    return meta.group(1)


def _request(client: Any, probe: Probe, csrf: str, i: int, htmx: bool) -> tuple[int, bytes]:
    headers = {"X-CSRFToken": csrf}
    if htmx:
        headers["HX-Request"] = "true"
    if probe.payload is not None:
        response = client.open(probe.path, method=probe.method, json=probe.payload(i),
                               headers=headers)  # fmt: skip
    elif probe.form is not None:
        response = client.open(probe.path, method=probe.method, data=probe.form(i),
                               headers=headers)  # fmt: skip
    else:
        response = client.open(probe.path, method=probe.method, headers=headers)
    return response.status_code, response.get_data()


@dataclass
class _Samples:
    """What one probe's timed requests gave."""

    timings: list[float]
    cpu: list[float]
    statements: list[int]
    statuses: set[int]
    body: bytes = b""


def _rounds(
    client: Any,
    csrf: str,
    counter: StatementCounter,
    probe_list: list[Probe],
    n: int,
    *,
    htmx: bool | None = None,
    warmup: int = WARMUP,
) -> dict[str, _Samples]:
    """Request every probe once per round, `warmup + n` rounds: interleaved, so a burst of
    load from elsewhere on the machine falls on every page alike."""
    samples = {p.name: _Samples([], [], [], set()) for p in probe_list}
    for i in range(warmup + n):
        for probe in probe_list:
            counter.count = 0
            started, cpu = time.perf_counter(), time.thread_time()
            status, body = _request(client, probe, csrf, i, probe.htmx if htmx is None else htmx)
            elapsed = (time.perf_counter() - started) * 1000
            spent = (time.thread_time() - cpu) * 1000
            if probe.name == "sync_batch" and status == 200:
                problem = sync_answer_problem(body)
                if problem:
                    raise RuntimeError(f"/api/sync: {problem}")
            if i >= warmup:
                got = samples[probe.name]
                got.timings.append(elapsed)
                got.cpu.append(spent)
                got.statements.append(counter.count)
                got.statuses.add(status)
                got.body = body
    return samples


def _describe(probe: Probe, got: _Samples, label: str | None = None) -> dict[str, Any]:
    return {
        "label": label or probe.label,
        "method": probe.method,
        "path": probe.path,
        **summary(got.timings, got.cpu),
        "queries": max(got.statements),
        "queries_min": min(got.statements),
        "statuses": sorted(got.statuses),
        "bytes": len(got.body),
        "gzip_bytes": gz(got.body),
    }


def measure_in_process(scenario: Scenario, probe_list: list[Probe], n: int) -> dict[str, Any]:
    """Latency, statements and bytes of each probe, through the Flask test client."""
    app = bench_app(scenario.url)
    from app.extensions import db
    from app.gc_setup import freeze_loaded_app

    freeze_loaded_app()  # as each gunicorn worker does (gunicorn.conf.py)

    out: dict[str, Any] = {"pages": {}, "fragments": {}}
    with app.app_context():
        engine = db.engine
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        client = app.test_client()
        healthz = Probe("healthz", "/healthz", "GET", "/healthz")
        got = _rounds(client, "", counter, [healthz], HEALTHZ_REQUESTS)["healthz"]
        out["healthz"] = summary(got.timings, got.cpu)
        csrf = _test_client_sign_in(client, scenario)
        # Pages, with /healthz in every round too: the reference under the same conditions.
        pages = _rounds(client, csrf, counter, [healthz, *probe_list], n)
        out["healthz_interleaved"] = summary(pages["healthz"].timings, pages["healthz"].cpu)
        for probe in probe_list:
            out["pages"][probe.name] = _describe(probe, pages[probe.name])
        # Fragments: the htmx answers of the same GET URLs, and the item fragment that an SSE
        # message or a rating save refreshes.
        item = (
            f"/portfolios/{scenario.portfolio_id}/bilan/items/criterion:{scenario.criterion_ids[1]}"
        )
        fragments = [p for p in probe_list if p.method == "GET" and p.fragment]
        fragments.append(Probe("item_fragment", "Assessment item fragment", "GET", item))
        got_fragments = _rounds(
            client, csrf, counter, fragments, FRAGMENT_REQUESTS, htmx=True, warmup=1
        )
        for probe in fragments:
            label = probe.label if probe.name == "item_fragment" else None
            out["fragments"][probe.name] = _describe(
                probe, got_fragments[probe.name], label or f"{probe.label}, htmx fragment"
            )
        out["documents"] = _documents(client, csrf, scenario, counter)
    finally:
        event.remove(engine, "before_cursor_execute", counter)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return out


def _documents(client: Any, csrf: str, scenario: Scenario, counter: StatementCounter) -> dict:
    docs = {
        "meeting_grid_pdf": (
            "Meeting grid PDF (MEE)",
            f"/portfolios/{scenario.portfolio_id}/preparer-la-rencontre.pdf",
        ),
        "pre_agreements": (
            f"Pre-agreement batch ({scenario.period_learners} learners, DOCX)",
            f"/periodes/{scenario.period_id}/pre-conventions",
        ),
    }
    result = {}
    for name, (label, path) in docs.items():
        seconds, statuses, body, queries = [], set(), b"", 0
        for i in range(1 + 3):  # one warm-up (fonts, templates), three timed
            counter.count = 0
            started = time.perf_counter()
            response = client.get(path)
            body = response.get_data()
            if i:
                seconds.append(time.perf_counter() - started)
                statuses.add(response.status_code)
                queries = counter.count
        result[name] = {
            "label": label,
            "path": path,
            "p50_s": round(statistics.median(seconds), 2),
            "max_s": round(max(seconds), 2),
            "n": len(seconds),
            "statuses": sorted(statuses),
            "bytes": len(body),
            "queries": queries,
        }
    return result


# --- under gunicorn -------------------------------------------------------------------------------

MIX = {  # how many of each in the round-robin mix: page views and ratings, a rare big sync
    "period_view": 4,
    "learner_view": 4,
    "sheet": 4,
    "framework_grid": 2,
    "assessment": 4,
    "rating_save": 6,
    "sync_batch": 1,
    "dashboard": 2,
}

WRK_SCRIPT = r"""
-- Generated by bench/run.py: a round-robin mix of Passerelle pages for one signed-in teacher.
local MIX = %(mix)s
local COOKIE = %(cookie)s
local CSRF = %(csrf)s
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("i", #threads * 5)
end

local function uuid4()
  return string.format("%%08x-%%04x-4%%03x-%%04x-%%012x", math.random(0, 0xffffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), math.random(0x8000, 0xbfff),
    math.random(0, 0xffffffffffff))
end

function init(args)
  bad = 0
  first_bad = 0
  math.randomseed(os.time() + (i or 0))
  i = i or 0
  reqs = {}
  for _, p in ipairs(MIX) do
    local headers = { ["Cookie"] = COOKIE, ["X-CSRFToken"] = CSRF }
    if p.htmx then headers["HX-Request"] = "true" end
    if p.content_type then headers["Content-Type"] = p.content_type end
    table.insert(reqs, { method = p.method, path = p.path, headers = headers, body = p.body,
                         dynamic = p.dynamic })
  end
end

function request()
  i = i %% #reqs + 1
  local r = reqs[i]
  local body = r.body
  if r.dynamic then body = string.gsub(body, "__UUID__", uuid4) end
  return wrk.format(r.method, r.path, r.headers, body)
end

function response(status, headers, body)
  -- A sync answer with per-change errors is an error too (Flask writes compact JSON).
  if status ~= 200 or string.find(body, '"errors":[{', 1, true) then
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
end

function done(summary, latency, requests)
  local b, fb = 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    if fb == 0 then fb = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "non_200": %%d, "first_non_200": %%d, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, "p50_us": %%d, ' ..
    '"p95_us": %%d, "p99_us": %%d, "max_us": %%d}\n',
    summary.requests, summary.duration, b, fb, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _lua(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid Lua string literal here
    if isinstance(value, list):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_lua(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _mix_requests(probe_list: list[Probe]) -> list[dict[str, Any]]:
    """The mix as one round-robin list, pages interleaved so that concurrent users hit
    different pages at the same time."""
    by_name = {p.name: p for p in probe_list}
    groups: list[list[dict[str, Any]]] = []
    for name, weight in MIX.items():
        probe = by_name.get(name)
        if probe is None:
            continue
        group = []
        for i in range(weight):
            entry: dict[str, Any] = {"method": probe.method, "path": probe.path, "htmx": probe.htmx}
            if probe.form is not None:
                entry["content_type"] = "application/x-www-form-urlencoded"
                entry["body"] = "&".join(f"{k}={v}" for k, v in probe.form(i).items())
            if probe.payload is not None:
                payload = json.dumps(probe.payload(i))
                entry["content_type"] = "application/json"
                # Every UUID in the batch becomes a fresh one per request (wrk's Lua does it),
                # whatever the field is called, so no request is a replay.
                entry["body"] = _UUID.sub("__UUID__", payload)
                entry["dynamic"] = True
            group.append(entry)
        groups.append(group)
    entries = []
    while any(groups):
        for group in groups:
            if group:
                entries.append(group.pop(0))
    return entries


def _run_wrk(session: HttpSession, mix: list[dict[str, Any]], seconds: int) -> dict[str, Any]:
    script = WRK_SCRIPT % {
        "mix": _lua(mix),
        "cookie": _lua(session.cookie),
        "csrf": _lua(session.csrf),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        completed = subprocess.run(  # noqa: S603 — wrk from Debian, fixed arguments
            ["wrk", "-t2", f"-c{USERS}", f"-d{seconds}s", "--timeout", "10s",  # noqa: S607
             "-s", handle.name, session.base],
            capture_output=True, text=True, timeout=seconds + 60, check=False,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {completed.stdout}\n{completed.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    errors = raw["non_200"] + raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "tool": "wrk",
        "requests": raw["requests"],
        "seconds": round(raw["duration_us"] / 1e6, 1),
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p95_ms": round(raw["p95_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "errors": errors,
        "first_error_status": raw["first_non_200"],
    }


def _run_python_load(session: HttpSession, mix: list[dict[str, Any]], seconds: int) -> dict:
    """The same mix without wrk: USERS threads with keep-alive connections, time-bounded."""
    host, port = session.base.removeprefix("http://").split(":")
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()

    def user(offset: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine, bad, i = [], [], offset
        while time.monotonic() < deadline:
            entry = mix[i % len(mix)]
            i += 1
            headers = {"Cookie": session.cookie, "X-CSRFToken": session.csrf}
            if entry.get("htmx"):
                headers["HX-Request"] = "true"
            body = entry.get("body")
            if body and entry.get("dynamic"):
                body = re.sub("__UUID__", lambda _m: str(uuid.uuid4()), body)
            if "content_type" in entry:
                headers["Content-Type"] = entry["content_type"]
            started = time.perf_counter()
            try:
                conn.request(entry["method"], entry["path"], body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status = response.status
                if b'"errors":[{' in data:  # a sync answer with per-change errors
                    status = 422
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                status = 0
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                bad.append(status)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    started = time.monotonic()
    workers = [threading.Thread(target=user, args=(n * 5,)) for n in range(USERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    return {
        "tool": "python threads",
        "requests": len(latencies),
        "seconds": round(elapsed, 1),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
        "errors": len(errors),
        "first_error_status": errors[0] if errors else 0,
    }


def cpu_ceiling(probe_list: list[Probe], in_process: dict[str, Any]) -> float:
    """The most requests per second the machine's cores could serve for this mix if the app's
    CPU time (in-process, median) were all that counted: an upper bound to compare with."""
    names = [p.name for p in probe_list if p.name in MIX]
    weights = sum(MIX[n] for n in names)
    mean_cpu = sum(MIX[n] * in_process["pages"][n]["cpu_p50_ms"] for n in names) / weights
    return round((os.cpu_count() or 1) * 1000 / mean_cpu, 1)


def measure_mix(
    scenario: Scenario, probe_list: list[Probe], seconds: int, workers: int = 2, threads: int = 16
) -> dict[str, Any]:
    """The mix alone under gunicorn (gunicorn.conf.py with these workers and threads)."""
    mix = _mix_requests(probe_list)
    with gunicorn(scenario.url, workers=workers, threads=threads) as server:
        session = sign_in(server.base, scenario.teacher_email, scenario.password,
                          f"/periodes/{scenario.period_id}")  # fmt: skip
        runner = _run_wrk if shutil.which("wrk") else _run_python_load
        runner(session, mix, 3)  # warm-up: templates compiled, connections pooled
        cpu_before = server.cpu_seconds()
        result = runner(session, mix, seconds)
        cpu_used = server.cpu_seconds() - cpu_before
    # How much CPU the server got (the machine may be shared), and what it spent per request
    # under concurrency: the throughput two dedicated cores would give the app alone.
    result["server_cpu_cores"] = round(cpu_used / result["seconds"], 2)
    result["server_cpu_ms_per_request"] = round(cpu_used * 1000 / max(result["requests"], 1), 1)
    result["projected_rps"] = round(
        (os.cpu_count() or 1) * result["requests"] / max(cpu_used, 1e-9), 1
    )
    result["load_average"] = round(os.getloadavg()[0], 1)
    return result


def measure_throughput(
    scenario: Scenario,
    probe_list: list[Probe],
    seconds: int,
    in_process: dict[str, Any] | None,
    streams: int = STREAMS,
) -> dict:
    """The mix alone, the hello-world reference, then (with `streams`) the same mix while that
    many live streams are open on the stream server (bench/streams.py), in one run."""
    result = measure_mix(scenario, probe_list, seconds)
    result["hello"] = measure_hello(scenario, seconds)
    result["hello_ratio"] = round(result["hello"]["rps"] / max(result["rps"], 1e-9), 1)
    result["users"] = USERS
    result["server"] = "gunicorn gthread, 2 processes x 16 threads"
    if in_process is not None:
        result["cpu_ceiling_rps"] = cpu_ceiling(probe_list, in_process)
    result["mix"] = {name: w for name, w in MIX.items() if any(p.name == name for p in probe_list)}
    if streams:
        mix = _mix_requests(probe_list)
        runner = _run_wrk if shutil.which("wrk") else _run_python_load
        print(f"• gunicorn: the same mix with {streams} live streams open …", flush=True)
        result["with_streams"] = live_streams.beside_mix(
            scenario, lambda session, secs: runner(session, mix, int(secs)), seconds,
            streams=streams,
        )  # fmt: skip
    return result


SWEEP = [(workers, threads) for workers in (2, 3) for threads in (4, 8, 16)]


def sweep(scenario: Scenario, probe_list: list[Probe], seconds: int) -> list[dict[str, Any]]:
    """The mix alone under each gunicorn setting of SWEEP, twice in alternating order so that
    a change of the machine's load falls on every setting alike."""
    rows: dict[tuple[int, int], list[dict[str, Any]]] = {setting: [] for setting in SWEEP}
    for order in (SWEEP, SWEEP[::-1]):
        for workers, threads in order:
            print(f"• sweep: {workers} workers × {threads} threads …", flush=True)
            rows[(workers, threads)].append(
                measure_mix(scenario, probe_list, seconds, workers, threads)
            )
    found = []
    for (workers, threads), runs in rows.items():
        found.append(
            {
                "workers": workers,
                "threads": threads,
                "runs": runs,
                "rps": round(statistics.fmean(r["rps"] for r in runs), 1),
                "p95_ms": round(statistics.fmean(r["p95_ms"] for r in runs), 1),
                "cpu_ms": round(statistics.fmean(r["server_cpu_ms_per_request"] for r in runs), 1),
                "errors": sum(r["errors"] for r in runs),
            }
        )
    return found


def measure_hello(scenario: Scenario, seconds: int) -> dict[str, Any]:
    """A hello-world Flask route (bench/hello_wsgi.py) under the same gunicorn settings, users
    and tool, right after the app's run: the machine's ceiling for this server setup."""
    mix = [{"method": "GET", "path": "/", "htmx": False}]
    with gunicorn(scenario.url, workers=2, threads=16, wsgi="bench.hello_wsgi:app") as server:
        session = HttpSession(base=server.base, cookie="", csrf="")
        runner = _run_wrk if shutil.which("wrk") else _run_python_load
        runner(session, mix, 2)
        cpu_before = server.cpu_seconds()
        result = runner(session, mix, seconds)
        cpu_used = server.cpu_seconds() - cpu_before
    result["server_cpu_cores"] = round(cpu_used / result["seconds"], 2)
    result["server_cpu_ms_per_request"] = round(cpu_used * 1000 / max(result["requests"], 1), 2)
    return result


# --- assets ---------------------------------------------------------------------------------------


def measure_assets() -> dict[str, Any]:
    def files(pattern: str) -> dict[str, dict[str, int]]:
        found = {}
        for path in sorted(STATIC.rglob(pattern)):
            data = path.read_bytes()
            found[str(path.relative_to(STATIC))] = {"bytes": len(data), "gzip_bytes": gz(data)}
        return found

    js = files("*.js")
    worker = ROOT / "service-worker.js"
    if worker.exists():
        data = worker.read_bytes()
        js["/service-worker.js"] = {"bytes": len(data), "gzip_bytes": gz(data)}
    css = files("*.css")
    return {
        "js": js,
        "css": css,
        "js_total_gzip": sum(v["gzip_bytes"] for v in js.values()),
        "js_total_bytes": sum(v["bytes"] for v in js.values()),
        "css_total_gzip": sum(v["gzip_bytes"] for v in css.values()),
        "css_total_bytes": sum(v["bytes"] for v in css.values()),
    }


# --- the run --------------------------------------------------------------------------------------


def _scale_codes(scenario: Scenario) -> tuple[list[str], bool]:
    """The MEE scale's observed levels (what a rating cycles through), and whether /api/sync
    exists yet."""
    app = bench_app(scenario.url)
    from app.extensions import db
    from app.models import Level, ScaleLevel

    with app.app_context():
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
        has_sync = any(rule.rule == "/api/sync" for rule in app.url_map.iter_rules())
        db.session.remove()
        db.engine.dispose()
    return codes, has_sync


def _server_version(url: str) -> str:
    if url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version}"
    app = bench_app(url)
    from app.extensions import db

    with app.app_context():
        version = db.session.scalar(text("SHOW server_version"))
        db.session.remove()
        db.engine.dispose()
    return f"PostgreSQL {version}"


def school(url: str, reuse: bool) -> Scenario:
    """The generated school at `url`: generated now, or with `reuse` the last one generated
    there (instance/bench/scenario-*.json)."""
    scenario = load_scenario("sqlite" if url.startswith("sqlite") else "postgresql")
    if reuse and scenario is not None and scenario.url == url:
        print(f"• reusing the school generated in {url.split('@')[-1]}", flush=True)
        return scenario
    print(f"• generating the school in {url.split('@')[-1]} …", flush=True)
    scenario = generate(url)
    print(f"  {sum(scenario.counts.values())} rows in {scenario.seconds} s", flush=True)
    return scenario


def bench_database(
    url: str, requests: int, seconds: int, reuse: bool = False, streams: int = STREAMS
) -> dict[str, Any]:
    scenario = school(url, reuse)
    codes, has_sync = _scale_codes(scenario)
    probe_list = probes(scenario, codes, has_sync)
    print(f"• in-process: {requests} requests per page …", flush=True)
    result: dict[str, Any] = {
        "engine": _server_version(url),
        "generate_seconds": scenario.seconds,
        "rows": scenario.counts,
        "sync": "measured" if has_sync else "n/a (endpoint missing)",
        **measure_in_process(scenario, probe_list, requests),
    }
    print(f"• gunicorn: {USERS} users for {seconds} s …", flush=True)
    result["throughput"] = measure_throughput(scenario, probe_list, seconds, result, streams)
    return result


def sweep_markdown(found: dict[str, list[dict[str, Any]]], seconds: int) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Gunicorn settings for the page mix ({date})",
        "",
        f"`python -m bench.run --sweep`: bench/run.py's mix ({USERS} users, wrk) alone for "
        f"{seconds} s under gunicorn.conf.py (gthread) with each setting, run twice in "
        "alternating order (figures are the mean of both; load average beside each run: the "
        "machine is shared).",
        "",
        "| database | workers × threads | req/s | p95 (ms) | server CPU / request (ms) | errors "
        "| runs: req/s (load average) |",
        "|---|---|---|---|---|---|---|",
    ]
    for db_name, rows in found.items():
        for row in rows:
            runs = ", ".join(f"{r['rps']} ({r['load_average']})" for r in row["runs"])
            lines.append(
                f"| {db_name} | {row['workers']} × {row['threads']} | {row['rps']} | "
                f"{row['p95_ms']} | {row['cpu_ms']} | {row['errors']} | {runs} |"
            )
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every budget of issue 10, met or not, with the margin."""
    budgets: list[dict[str, Any]] = []
    for db_name, data in results["databases"].items():
        limit = round(PAGE_FACTOR * data["healthz"]["p50_ms"] + PAGE_SLACK_MS, 2)
        for name, page in data["pages"].items():
            if name == "rating_save":
                target, what = RATING_SAVE_P95_MS, "rating save p95 ≤ 15 ms"
            elif name == "sync_batch":
                target, what = SYNC_BATCH_P95_MS, f"sync batch p95 ≤ {SYNC_BATCH_P95_MS:.0f} ms"
            else:
                target, what = limit, f"p95 ≤ 5 × /healthz p50 + 20 ms = {limit} ms"
            budgets.append(
                {
                    "database": db_name,
                    "budget": f"{page['label']}: {what}",
                    "measured": f"{page['p95_ms']} ms",
                    "met": page["p95_ms"] <= target and page["statuses"] == [200],
                    "over": round(page["p95_ms"] - target, 1),
                }
            )
        throughput = data["throughput"]
        budgets.append(
            {
                "database": db_name,
                "budget": "mix under gunicorn ≥ 150 req/s, 0 errors",
                "measured": f"{throughput['rps']} req/s, {throughput['errors']} errors",
                "met": throughput["rps"] >= MIN_THROUGHPUT and throughput["errors"] == 0,
                "over": round(MIN_THROUGHPUT - throughput["rps"], 1),
            }
        )
        budgets.append(
            {
                "database": db_name,
                "budget": f"mix under gunicorn p95 ≤ {MIX_P95_MS:.0f} ms",
                "measured": f"{throughput['p95_ms']} ms",
                "met": throughput["p95_ms"] <= MIX_P95_MS,
                "over": round(throughput["p95_ms"] - MIX_P95_MS, 1),
            }
        )
        budgets.append(
            {
                "database": db_name,
                "budget": f"server CPU per request ≤ {MIX_CPU_MS:.0f} ms",
                "measured": f"{throughput['server_cpu_ms_per_request']} ms",
                "met": throughput["server_cpu_ms_per_request"] <= MIX_CPU_MS,
                "over": round(throughput["server_cpu_ms_per_request"] - MIX_CPU_MS, 1),
            }
        )
        live = throughput.get("with_streams")
        if live:
            m, d, st = live["mix"], live["delivery"], live["streams"]
            budgets.append(
                {
                    "database": db_name,
                    "budget": f"mix with {STREAMS} streams open ≥ 150 req/s, p95 ≤ "
                    f"{MIX_P95_MS:.0f} ms, 0 errors",
                    "measured": f"{st['open']} streams, {m['rps']} req/s, p95 {m['p95_ms']} ms, "
                    f"{m['errors']} errors",
                    "met": st["open"] >= STREAMS
                    and m["rps"] >= MIN_THROUGHPUT
                    and m["p95_ms"] <= MIX_P95_MS
                    and m["errors"] == 0,
                    "over": round(MIN_THROUGHPUT - m["rps"], 1),
                }
            )
            budgets.append(
                {
                    "database": db_name,
                    "budget": "an event reaches all listeners of an assessment ≤ 1 s p95 "
                    "(with the mix)",
                    "measured": f"p95 {d['event_p95_ms']} ms over {d['delivered_to_all']} saves, "
                    f"{d['missed_deliveries']} missed",
                    "met": d["event_p95_ms"] <= DELIVERY_P95_MS
                    and d["missed_deliveries"] == 0
                    and d["delivered_to_all"] > 0,
                    "over": round(d["event_p95_ms"] - DELIVERY_P95_MS, 1),
                }
            )
    first = next(iter(results["databases"].values()))
    page = first["pages"]["assessment"]
    budgets.append(
        {
            "database": "-",
            "budget": "assessment page < 150 KB before gzip",
            "measured": f"{page['bytes'] / 1000:.1f} KB",
            "met": page["bytes"] < ASSESSMENT_PAGE_MAX_BYTES,
            "over": round((page["bytes"] - ASSESSMENT_PAGE_MAX_BYTES) / 1000, 1),
        }
    )
    js = results["assets"]["js_total_gzip"]
    budgets.append(
        {
            "database": "-",
            "budget": "all JavaScript < 50 KB gzipped",
            "measured": f"{js / 1000:.1f} KB",
            "met": js < JS_GZIP_MAX_BYTES,
            "over": round((js - JS_GZIP_MAX_BYTES) / 1000, 1),
        }
    )
    return budgets


def _kb(n: int) -> str:
    return f"{n / 1000:.1f}"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    dbs = results["databases"]
    names = list(dbs)
    lines = [
        f"Measured {results['date']} on {m['cpu']} ({m['cores']} cores, {m['memory']}), "
        f"{m['os']}, Python {m['python']}; "
        + ", ".join(dbs[n]["engine"] for n in names)
        + f". Load average at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end')}.",
        "",
        f"School: {results['school']}.",
        "",
        "**In-process latency** (Flask test client, signed-in teacher, "
        f"{results['requests']} requests per page after {WARMUP} warm-up. CPU = CPU time of "
        "the request's thread, what the request costs whatever else the machine runs (without "
        "PostgreSQL's own work); queries = SQL statements per request):",
        "",
        "| page | "
        + " | ".join(f"{n} p50 / p95 (CPU p50), ms" for n in names)
        + "".join(f" | queries ({n})" for n in names)
        + " | budget p95 (ms) |",
        "|---|" + "---|" * len(names) + "---|" * len(names) + "---|",
    ]
    health = " | ".join(
        f"{dbs[n]['healthz']['p50_ms']} / {dbs[n]['healthz']['p95_ms']} "
        f"({dbs[n]['healthz']['cpu_p50_ms']})"
        for n in names
    )
    lines.append(f"| `/healthz` (reference) | {health} |" + " 0 |" * len(names) + " |")
    for name, page in dbs[names[0]]["pages"].items():
        cells = []
        budgets = []
        for n in names:
            p = dbs[n]["pages"][name]
            mark = "" if p["statuses"] == [200] else f" (status {p['statuses']})"
            cells.append(f"{p['p50_ms']} / **{p['p95_ms']}** ({p['cpu_p50_ms']}){mark}")
            limit = (
                RATING_SAVE_P95_MS
                if name == "rating_save"
                else SYNC_BATCH_P95_MS
                if name == "sync_batch"
                else round(PAGE_FACTOR * dbs[n]["healthz"]["p50_ms"] + PAGE_SLACK_MS, 1)
            )
            budgets.append(f"{limit} {'✅' if p['p95_ms'] <= limit else '❌'}")
        queries = " | ".join(str(dbs[n]["pages"][name]["queries"]) for n in names)
        lines.append(
            f"| {page['label']} `{page['method']} {_generic(page['path'])}` | "
            + " | ".join(cells)
            + f" | {queries} | "
            + " · ".join(budgets)
            + " |"
        )
    for n in names:
        if dbs[n]["sync"] != "measured":
            lines.append(f"| Sync batch ({SYNC_BATCH} changes) `POST /api/sync` | "
                         + " | ".join("n/a (endpoint missing)" for _ in names) + " |"
                         + " |" * len(names) + " |")  # fmt: skip
            break
    lines += [
        "",
        "**Bytes sent** (HTML as the server sends it, and gzipped at level 6 as a reverse "
        "proxy would; fragments are the htmx answers of the same URLs):",
        "",
        "| page or fragment | bytes | gzip | fragment bytes | fragment gzip "
        "| fragment p50 / p95 (ms) |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    first = dbs[names[0]]
    for name, page in first["pages"].items():
        frag = first["fragments"].get(name)
        frag_cells = (
            f"{_kb(frag['bytes'])} KB | {_kb(frag['gzip_bytes'])} KB | "
            f"{frag['p50_ms']} / {frag['p95_ms']}"
            if frag
            else "– | – | –"
        )
        lines.append(
            f"| {page['label']} | {_kb(page['bytes'])} KB | {_kb(page['gzip_bytes'])} KB | "
            f"{frag_cells} |"
        )
    item = first["fragments"]["item_fragment"]
    lines.append(
        f"| {item['label']} | – | – | {_kb(item['bytes'])} KB | {_kb(item['gzip_bytes'])} KB | "
        f"{item['p50_ms']} / {item['p95_ms']} |"
    )
    assets = results["assets"]
    lines += [
        "",
        f"**Static assets**: all JavaScript {_kb(assets['js_total_bytes'])} KB, "
        f"**{_kb(assets['js_total_gzip'])} KB gzipped** ({len(assets['js'])} files, htmx "
        f"included); all CSS {_kb(assets['css_total_bytes'])} KB, "
        f"**{_kb(assets['css_total_gzip'])} KB gzipped** ({len(assets['css'])} files).",
        "",
        "**Under gunicorn** (gthread, 2 processes × 16 threads, "
        f"{USERS} concurrent users on 127.0.0.1, round-robin mix "
        + ", ".join(f"{k} ×{v}" for k, v in dbs[names[0]]["throughput"]["mix"].items())
        + "):",
        "",
        "| database | tool | requests | req/s | p50 (ms) | p95 (ms) | p99 (ms) | errors | "
        "server CPU (cores) | CPU / request (ms) | projected req/s | budget ≥ 150 req/s | "
        "hello-world req/s (CPU / request) | hello-world / Passerelle |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        t = dbs[n]["throughput"]
        ok = "✅" if t["rps"] >= MIN_THROUGHPUT and t["errors"] == 0 else "❌"
        lines.append(
            f"| {dbs[n]['engine']} | {t['tool']} | {t['requests']} in {t['seconds']} s | "
            f"{t['rps']} | {t['p50_ms']} | {t['p95_ms']} | {t['p99_ms']} | {t['errors']} | "
            f"{t['server_cpu_cores']} | {t['server_cpu_ms_per_request']} | {t['projected_rps']} | "
            f"{ok} | {_hello(t)} |"
        )
    lines += [
        "",
        "Server CPU = CPU time of gunicorn's processes during the run / its duration (the "
        "machine may be shared: other processes took the rest); projected req/s = cores × "
        "requests / that CPU time, what the app would serve with every core to itself "
        "(PostgreSQL's own CPU not counted). Hello-world: a one-line Flask route "
        "(bench/hello_wsgi.py) under the same gunicorn settings, users and tool, loaded right "
        "after the mix; the ratio is how many times more requests it served.",
        "",
    ]
    lines += streams_section(results)
    lines += [
        "**Documents** (in-process, 3 timed runs after one warm-up):",
        "",
        "| document | "
        + " | ".join(f"{n} median / max (s)" for n in names)
        + " | size | queries |",
        "|---|" + "---|" * len(names) + "---|---|",
    ]
    for name, doc in first["documents"].items():
        timings = " | ".join(
            f"{dbs[n]['documents'][name]['p50_s']} / {dbs[n]['documents'][name]['max_s']}"
            for n in names
        )
        lines.append(
            f"| {doc['label']} `{_generic(doc['path'])}` | {timings} | {_kb(doc['bytes'])} KB | "
            f"{doc['queries']} |"
        )
    lines += profile_section(BENCH_DIR)
    lines += ["", "**Budgets**:", "", "| database | budget | measured | met |", "|---|---|---|---|"]
    for b in results["budgets"]:
        lines.append(
            f"| {b['database']} | {b['budget']} | {b['measured']} | {'✅' if b['met'] else '❌'} |"
        )
    return "\n".join(lines) + "\n"


def streams_section(results: dict[str, Any]) -> list[str]:
    """The mix alone and the same mix with the live streams open, side by side (issue 14)."""
    dbs = {n: d for n, d in results["databases"].items() if "with_streams" in d["throughput"]}
    if not dbs:
        return []
    any_run = next(iter(dbs.values()))["throughput"]["with_streams"]
    s = any_run["streams"]
    lines = [
        f"**With {s['open']} live streams open** (`make bench`, bench/streams.py `beside_mix`): "
        "the same mix, users and tool on the page server (gunicorn.conf.py, 2 × 16 gthread, "
        "with REDIS_URL) while the stream server (gunicorn_streams.conf.py, 1 gevent worker) "
        f"holds {s['open']} server-sent-events streams ({s['on_assessments']} on "
        f"{s['assessments']} assessments, {s['listeners_per_assessment']} listeners each: 3 "
        f"teacher tabs and 2 tutor tabs; {s['on_period_views']} on a period view), and tutors "
        "rate items of the listened-to assessments (3 more users, 0.1 s apart). Delivery: "
        "until the last listener of the assessment has read the item's fragment, from the "
        "event on Redis (the goal) and from the save sent (which waits its turn on the page "
        "server under the mix).",
        "",
        "| database | mix alone: req/s, p95 (ms), CPU / request (ms) | with the streams: req/s, "
        "p95 (ms), errors, CPU / request (ms) | hello-world / Passerelle | memory per stream | "
        "event → all listeners p50 / p95 (ms) | save sent → all listeners p50 / p95 (ms) | save "
        "answer p50 / p95 (ms) | saves (missed deliveries) | CPU, cores: page server / stream "
        "server / wrk / listeners | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in (d["throughput"] for d in dbs.values()):
        w = t["with_streams"]
        m, st, d, c = w["mix"], w["streams"], w["delivery"], w["cpu"]
        ok = "✅" if d["event_p95_ms"] <= DELIVERY_P95_MS and not d["missed_deliveries"] else "❌"
        engine = next(n for n, x in dbs.items() if x["throughput"] is t)
        lines.append(
            f"| {dbs[engine]['engine']} | {t['rps']}, {t['p95_ms']}, "
            f"{t['server_cpu_ms_per_request']} | {m['rps']}, {m['p95_ms']}, {m['errors']}, "
            f"{m['server_cpu_ms_per_request']} | {t.get('hello_ratio', '–')}× | "
            f"{st['kb_per_stream']} KB ({st['worker_rss_mb_before']} → "
            f"{st['worker_rss_mb_open']} MB, {st['worker_threads']} thread) | "
            f"{d['event_p50_ms']} / **{d['event_p95_ms']}** {ok} | {d['send_p50_ms']} / "
            f"{d['send_p95_ms']} | {d['save_answer_p50_ms']} / {d['save_answer_p95_ms']} | "
            f"{d['delivered_to_all']} of {d['saves']} ({d['missed_deliveries']}) | "
            f"{c['page_server_cores']} / {c['stream_server_cores']} / {c['wrk_cores']} / "
            f"{c['listeners_cores']} | {t.get('load_average', '–')} alone, "
            f"{w['load_before'][0]} → {w['load_end'][0]} with streams |"
        )
    lines += [
        "",
        "CPU of the load generators is measured so that they are seen not to take the servers' "
        "share: wrk (its process) and the listeners (the one thread reading every stream). "
        "Memory per stream = growth of the stream worker's RSS / streams opened.",
        "",
    ]
    return lines


def profile_section(folder: Path) -> list[str]:
    """The per-page split of bench/profile.py, before (bench/profile-before.json, the code
    before issue 14's work) and now (bench/profile.json), when both were written."""
    try:
        before = json.loads((folder / "profile-before.json").read_text())
        now = json.loads((folder / "profile.json").read_text())
    except (OSError, ValueError):
        return []
    lines = [
        "",
        f"**Where the time goes** (`python -m bench.profile`: cProfile, {now['requests']} "
        "requests per page; CPU = thread CPU per request without the profiler; calls = Python "
        "function calls per request, the least noisy measure on a shared machine; the split "
        "is the profiled time by layer: SQL = SQLAlchemy + driver (and, on PostgreSQL, the "
        "wait for the server), Jinja = templates + jinja2 + markupsafe, Flask = Flask, "
        f"Werkzeug, Flask-Login/WTF). Before: {before['date']}; now: {now['date']}.",
        "",
        "| database | page | CPU p50 ms before → now | calls before → now | statements "
        "before → now | SQL / Jinja / Flask / app % before | SQL / Jinja / Flask / app % now |",
        "|---|---|---|---|---|---|---|",
    ]
    for db_name, pages in now["databases"].items():
        for name, page in pages.items():
            old = before["databases"].get(db_name, {}).get(name)
            if old is None:
                continue

            def cut(p: dict[str, Any]) -> str:
                s = p["split_pct"]
                return f"{s['sql']:.0f} / {s['jinja']:.0f} / {s['flask']:.0f} / {s['app']:.0f}"

            lines.append(
                f"| {db_name} | {page['label']} | {old['cpu_p50_ms']} → {page['cpu_p50_ms']} | "
                f"{old['calls_per_request']} → {page['calls_per_request']} | "
                f"{old['statements']} → {page['statements']} | {cut(old)} | {cut(page)} |"
            )
    return lines


def _hello(t: dict[str, Any]) -> str:
    hello = t.get("hello")
    if not hello:
        return "– | –"
    return f"{hello['rps']} ({hello['server_cpu_ms_per_request']} ms) | {t['hello_ratio']}×"


def _generic(path: str) -> str:
    return re.sub(r"\d+", "<id>", path)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Passerelle school-scale benchmark")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per database")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--output", default=str(BENCH_DIR), help="folder for results.json/.md")
    parser.add_argument(
        "--streams", type=int, default=STREAMS, help="open streams beside the mix (0: skip)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the school generated by the last run"
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="only the mix under 2 and 3 workers × 4, 8, 16 threads → gunicorn_sweep.md",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "requests": args.requests,
        "databases": {},
    }
    urls = {}
    if args.only in (None, "sqlite"):
        urls["sqlite"] = sqlite_url()
    if args.only in (None, "postgresql"):
        pg = postgresql_url()
        if pg:
            urls["postgresql"] = pg
        elif args.only == "postgresql":
            raise SystemExit("Set BENCH_DATABASE_URL (…/passerelle_bench) for PostgreSQL.")
        else:
            print("• PostgreSQL skipped: set BENCH_DATABASE_URL to include it.", flush=True)
    if args.sweep:
        found = {}
        for name, url in urls.items():
            scenario = school(url, args.reuse)
            codes, has_sync = _scale_codes(scenario)
            found[name] = sweep(scenario, probes(scenario, codes, has_sync), args.duration)
        out = Path(args.output)
        (out / "gunicorn_sweep.json").write_text(json.dumps(found, indent=2) + "\n")
        (out / "gunicorn_sweep.md").write_text(sweep_markdown(found, args.duration))
        print(sweep_markdown(found, args.duration))
        return
    for name, url in urls.items():
        results["databases"][name] = bench_database(
            url, args.requests, args.duration, args.reuse, args.streams
        )
    first = next(iter(results["databases"].values()))
    rows = first["rows"]
    results["school"] = (
        f"{rows['class_groups']} classes, {rows['learners']} learners, {rows['periods']} periods "
        f"of 6 weeks, {rows['portfolios']} portfolios, {rows['activity_sheets']} written sheets "
        f"with {rows['sheet_tasks'] + rows['sheet_competencies'] + rows['sheet_criteria']} "
        f"framework selections, {rows['assessments']} assessments (half completed) with "
        f"{rows['assessment_items']} rated items and their history"
    )
    results["assets"] = measure_assets()
    results["machine"]["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    results["budgets"] = evaluate(results)
    results["seconds"] = round(time.perf_counter() - started)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    print(f"Written {out / 'results.json'} and {out / 'results.md'} in {results['seconds']} s.")
    DATA_DIR.mkdir(parents=True, exist_ok=True)


if __name__ == "__main__":
    main()
