"""Where each page's time goes: cProfile over the benchmark's requests, split by layer.

    python -m bench.profile [--only sqlite|postgresql] [--requests 30] [--reuse] [--top PAGE]

For each page of `bench.run` (same school, same signed-in teacher, Flask test client), runs
`--requests` requests under cProfile after a warm-up and reports per request: thread CPU time
(without the profiler), Python function calls (a machine-independent measure of the work),
SQL statements, and the profiled time split into SQL (SQLAlchemy and the driver), Jinja
(template code, jinja2, markupsafe), Flask/Werkzeug (routing, sessions, CSRF, login) and the
app (app/ Python code). A built-in function (no file) counts for the layer of its callers.
`--reuse` keeps the database of the last generation (instance/bench/scenario-*.json).
Writes bench/profile.json and bench/profile.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.generate import bench_app, generate, load_scenario, postgresql_url, sqlite_url
from bench.run import (
    BENCH_DIR,
    Probe,
    StatementCounter,
    _request,
    _scale_codes,
    _test_client_sign_in,
    probes,
)

LAYERS = ("sql", "jinja", "flask", "app", "other")
_PREFIXES = (
    ("sql", ("/sqlalchemy/", "/psycopg/", "/psycopg_pool/", "/sqlite3/", "psycopg_c")),
    ("jinja", ("/jinja2/", "/markupsafe/", ".html", "<template>")),
    (
        "flask",
        (
            "/flask/",
            "/werkzeug/",
            "/flask_login/",
            "/flask_wtf/",
            "/wtforms/",
            "/itsdangerous/",
            "/flask_sqlalchemy/",
            "/blinker/",
        ),
    ),
    ("app", ("/app/",)),
)


def _layer_of_file(filename: str) -> str | None:
    if filename == "~":
        return None  # a built-in: its callers decide
    for layer, marks in _PREFIXES:
        if any(mark in filename for mark in marks):
            return layer
    return "other"


def _builtin_layer(name: str) -> str | None:
    if "sqlite3" in name or "psycopg" in name:
        return "sql"
    if "markupsafe" in name:
        return "jinja"
    return None


def split(stats: pstats.Stats) -> dict[str, float]:
    """Own time (tottime) of every function, by layer; a built-in's time goes to its callers'
    layers in proportion to the time it spent under each."""
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = defaultdict(float)

    def layer_of(key: tuple[str, int, str], depth: int = 0) -> dict[str, float]:
        filename, _line, name = key
        own = _layer_of_file(filename) or _builtin_layer(name)
        if own is not None:
            return {own: 1.0}
        callers = raw.get(key, (0, 0, 0, 0, {}))[4]
        total = sum(c[2] for c in callers.values()) if callers else 0
        if depth > 3 or not callers or total <= 0:
            return {"other": 1.0}
        shares: dict[str, float] = defaultdict(float)
        for caller, numbers in callers.items():
            for layer, share in layer_of(caller, depth + 1).items():
                shares[layer] += share * numbers[2] / total
        return shares

    for key, (_cc, _nc, tottime, _ct, _callers) in raw.items():
        for layer, share in layer_of(key).items():
            out[layer] += tottime * share
    return dict(out)


def profile_page(client: Any, csrf: str, counter: StatementCounter, probe: Probe, n: int) -> dict:
    for i in range(5):
        _request(client, probe, csrf, i, probe.htmx)
    # Plain timing first (the profiler slows Python code down several times).
    cpu_ms = []
    statements = []
    for i in range(n):
        counter.count = 0
        started = time.thread_time()
        _request(client, probe, csrf, 100 + i, probe.htmx)
        cpu_ms.append((time.thread_time() - started) * 1000)
        statements.append(counter.count)
    profiler = cProfile.Profile()
    for i in range(n):
        profiler.enable()
        _request(client, probe, csrf, 1000 + i, probe.htmx)
        profiler.disable()
    stats = pstats.Stats(profiler)
    layers = split(stats)
    total = sum(layers.values()) or 1.0
    cpu_ms.sort()
    return {
        "label": probe.label,
        "cpu_p50_ms": round(cpu_ms[len(cpu_ms) // 2], 2),
        "calls_per_request": round(stats.total_calls / n),  # type: ignore[attr-defined]
        "statements": max(statements),
        "split_pct": {layer: round(100 * layers.get(layer, 0.0) / total, 1) for layer in LAYERS},
        "_stats": stats,
    }


def profile_database(
    url: str, n: int, reuse: bool, top: str | None, pages_wanted: set[str] | None = None
) -> dict[str, Any]:
    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    scenario = load_scenario(dialect) if reuse else None
    if scenario is None or scenario.url != url:
        print(f"• generating the school in {url.split('@')[-1]} …", flush=True)
        scenario = generate(url)
    codes, has_sync = _scale_codes(scenario)
    probe_list = probes(scenario, codes, has_sync)
    app = bench_app(scenario.url)
    from app.extensions import db
    from app.gc_setup import freeze_loaded_app

    freeze_loaded_app()
    with app.app_context():
        engine = db.engine
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    pages: dict[str, Any] = {}
    try:
        client = app.test_client()
        csrf = _test_client_sign_in(client, scenario)
        for probe in probe_list:
            if pages_wanted and probe.name not in pages_wanted:
                continue
            print(f"  {probe.name} …", flush=True)
            got = profile_page(client, csrf, counter, probe, n)
            stats = got.pop("_stats")
            if top == probe.name:
                stats.sort_stats("cumulative").print_stats(40)
                stats.sort_stats("tottime").print_stats(30)
            pages[probe.name] = got
    finally:
        event.remove(engine, "before_cursor_execute", counter)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return pages


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Profiled {results['date']} ({results['requests']} requests per page after 5 warm-up; "
        "CPU = thread CPU time per request without the profiler; calls = Python function "
        "calls per request under cProfile; split = share of the profiled time per layer).",
        "",
        "| database | page | CPU p50 (ms) | calls / request | statements | SQL % | Jinja % "
        "| Flask/Werkzeug % | app % | other % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for db_name, pages in results["databases"].items():
        for page in pages.values():
            s = page["split_pct"]
            lines.append(
                f"| {db_name} | {page['label']} | {page['cpu_p50_ms']} | "
                f"{page['calls_per_request']} | {page['statements']} | {s['sql']} | "
                f"{s['jinja']} | {s['flask']} | {s['app']} | {s['other']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Passerelle per-page profile")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--reuse", action="store_true", help="keep the generated database")
    parser.add_argument("--top", help="print the top functions of this page (probe name)")
    parser.add_argument("--pages", help="comma-separated probe names (default: all)")
    parser.add_argument("--output", default=str(BENCH_DIR))
    args = parser.parse_args(list(argv) if argv is not None else None)
    urls = {}
    if args.only in (None, "sqlite"):
        urls["sqlite"] = sqlite_url()
    pg = postgresql_url()
    if args.only in (None, "postgresql") and pg:
        urls["postgresql"] = pg
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "requests": args.requests,
        "databases": {},
    }
    for name, url in urls.items():
        wanted = set(args.pages.split(",")) if args.pages else None
        results["databases"][name] = profile_database(
            url, args.requests, args.reuse, args.top, wanted
        )
    out = Path(args.output)
    (out / "profile.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "profile.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
