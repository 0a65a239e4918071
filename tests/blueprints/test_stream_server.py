"""The stream server (gunicorn_streams.conf.py: the same app on gevent workers) beside a page
server (the same app in this process), sharing Redis, as in production behind the proxy; on a file
SQLite database, or on PostgreSQL runs on "<TEST_DATABASE_URL's name>_live" (psycopg under
gevent).

Bounded: 200 streams, a few seconds. bench/streams.py opens 1,000 and measures."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
import redis

from app.extensions import db as _db
from tests.live_servers import (
    LIVE_SECRET,
    Client,
    gunicorn_server,
    live_database_url,
    seeded_app,
    werkzeug_server,
)

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
STREAMS = 200


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


requires_redis = pytest.mark.skipif(
    not _redis_up() and not os.environ.get("CI"), reason=f"Redis unreachable at {REDIS_URL}"
)


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^Threads:\s+(\d+)", status, re.M)
    assert found is not None
    return int(found.group(1))


def _csrf(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.mark.slow
@requires_redis
def test_two_hundred_streams_hold_no_thread_each_and_all_get_the_rating(tmp_path: Path) -> None:
    prefix = f"passerelle-streams-{uuid.uuid4().hex[:8]}:"
    # The page server: the app in this process (werkzeug), publishing through Redis, with the
    # stream server's secret key so that one session cookie serves both.
    app, seeded = seeded_app(
        tmp_path,
        live_database_url(tmp_path),
        REDIS_URL=REDIS_URL,
        LIVE_REDIS_PREFIX=prefix,
        SECRET_KEY=LIVE_SECRET,
    )
    env = {"LIVE_REDIS_PREFIX": prefix}
    assessment_id, portfolio_id = seeded.ids["assessment"], seeded.ids["portfolio"]
    with (
        werkzeug_server(app) as pages_url,
        gunicorn_server(
            tmp_path,
            seeded.database_url,
            workers=1,
            redis_url=REDIS_URL,
            extra_env=env,
            streams=True,
        ) as live,
    ):
        teacher = Client(pages_url)
        teacher.login(seeded.emails["teacher"])
        # The page server's session cookie opens streams on the stream server (same app, same
        # secret key, same access checks).
        teacher.base = live.url
        streams = [teacher.open_stream(f"/events/bilans/{assessment_id}") for _ in range(STREAMS)]
        assert [s.status for s in streams] == [200] * STREAMS
        assert all(s.readline().startswith(": stream open") for s in streams)

        # A stranger is refused by the stream server as by the page server.
        other = Client(pages_url)
        other.login(seeded.emails["other_teacher"])
        other.base = live.url
        assert other.open_stream(f"/events/bilans/{assessment_id}").status in (403, 404)

        (worker,) = set(live.workers_for("/events/bilans/"))
        assert _threads(worker) < 20, "a stream must not hold a thread"

        # Its one thread still answers at once with the 200 streams open.
        started = time.monotonic()
        status, page = Client(live.url).get("/healthz")
        assert status == 200 and time.monotonic() - started < 0.5

        # The tutor rates on the page server: every teacher stream gets the item's fragment.
        tutor = Client(pages_url)
        tutor.login(seeded.emails["tutor"])
        status, page = tutor.get(f"/portfolios/{portfolio_id}/bilan")
        assert status == 200
        status, _ = tutor.post(
            f"/portfolios/{portfolio_id}/bilan/items/engagement",
            {"csrf_token": _csrf(page), "value": "3"},
        )
        assert status == 200
        saved = time.monotonic()
        for stream in streams:
            name, html = stream.next_event()
            assert name == "parts"
            assert 'id="item-engagement"' in html and "3 sur 4" in html
        elapsed = time.monotonic() - saved
        assert elapsed < 30, f"{STREAMS} listeners served in {elapsed:.1f} s"  # one render each

        # A graceful stop (deploy, restart) ends the open streams at once instead of waiting
        # for its timeout; browsers reconnect by themselves.
        started = time.monotonic()
        live.process.send_signal(signal.SIGTERM)
        live.process.wait(timeout=8)
        stopped = time.monotonic() - started
        assert stopped < 5, f"the stream server took {stopped:.1f} s to stop"
        for stream in streams:
            with contextlib.suppress(OSError):
                assert stream.readline() in ("", ": ping\n", "\n")
            stream.close()
    with app.app_context():
        _db.engine.dispose()  # the sibling PostgreSQL database is reset by the next run
