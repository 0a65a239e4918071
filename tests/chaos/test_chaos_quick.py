"""The short fault storm of `make test` (the full one is `make chaos`, tests/chaos/run.py):
gunicorn with 2 workers (gunicorn.conf.py) on a file SQLite database (on a PostgreSQL cluster
of its own, restarted mid-storm, when TEST_DATABASE_URL is set), its own Redis, 10
simulated devices sending a few hundred changes to 4 assessments through /api/sync — with a
worker killed (-9) in the middle of a batch, Redis stopped for a few seconds, answers dropped
after the server committed, identical replays, reused ids and same-item collisions — then the
ledger is checked against the database, and the live listeners must show the final state."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import postgres_bin
from tests.chaos.storm import Plan, Storm

# The PostgreSQL pass of the suite (TEST_DATABASE_URL set) storms a PostgreSQL cluster of its
# own, restarted mid-storm, rather than SQLite again; the shared test database is left alone.
ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL")) and postgres_bin() is not None


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory of its own, not pytest's tmp_path: concurrent pytest sessions of the same
    user prune each other's old tmp_path trees, under a running server."""
    path = Path(tempfile.mkdtemp(prefix="passerelle-chaos-test-"))
    yield path
    if not os.environ.get("CHAOS_KEEP"):  # CHAOS_KEEP=1: keep the logs to look at
        shutil.rmtree(path, ignore_errors=True)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def test_quick_storm_loses_nothing_and_applies_nothing_twice(workdir: Path) -> None:
    plan = Plan(
        devices=10,
        assessments=4,
        changes=250,
        seconds=10,
        collisions=8,
        via_proxy=3,
        restart_postgres=ON_POSTGRES,
        redis_outage=3,
        browser=False,
        database="postgresql" if ON_POSTGRES else "sqlite",
    )
    storm = Storm(workdir, plan)
    try:
        storm.start()
        report = storm.run()
    finally:
        storm.stop()
    figures = report.figures
    print(report.line(), figures["phases"], figures["refresh_reasons"])
    assert report.problems == [], (report.line(), figures["refresh_reasons"])
    assert figures["created"] >= 250 and figures["acknowledged"] == figures["made"]
    assert figures["lost"] == 0 and figures["applied_twice"] == 0
    assert figures["unacknowledged"] == 0 and figures["version_errors"] == 0
    assert figures["collisions_flagged"] == figures["collisions"] == 8
    assert figures["dropped"] >= 1 and figures["replays"] >= 1
    assert figures["reuse_refused"] == figures["reuses"]
    assert any(fault.startswith("kill -9 worker mid-batch") for fault in figures["faults"])
    assert any(fault.startswith("Redis down") for fault in figures["faults"])
    if ON_POSTGRES:
        assert any(fault.startswith("PostgreSQL restart") for fault in figures["faults"])
    assert figures["caught_up"] == figures["listeners"] == 4 and figures["stuck"] == 0
    assert figures["http_500"] == 0
