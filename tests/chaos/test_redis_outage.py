"""Redis down for a few seconds (found by the fault suite: a 20 s outage sent each open page
about six refreshes, one per failed reconnection attempt of the listener thread, and each
refresh re-fetches the whole page). A stream is told twice per outage — when the link is lost
and when it is back — and events flow again after. Runs a redis-server of its own."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services.broker import RedisBroker
from app.services.events import RESYNC, Event
from tests.chaos.harness import Redis

pytestmark = [
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server"),
    pytest.mark.db_independent("a Redis server of its own and no database"),
]


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    root = Path(tempfile.mkdtemp(prefix="passerelle-chaos-redis-"))
    server = Redis(root)
    server.start()
    yield server
    server.kill()
    shutil.rmtree(root, ignore_errors=True)


def test_an_outage_resyncs_each_stream_once_when_lost_and_once_when_back(
    redis_server: Redis,
) -> None:
    prefix = f"passerelle-chaos-{uuid.uuid4().hex[:8]}:"
    publisher, receiver = (
        RedisBroker(redis_server.url, prefix),
        RedisBroker(redis_server.url, prefix),
    )
    try:
        inbox = receiver.subscribe(["period:1"])
        assert receiver.ready.wait(10)
        redis_server.kill()
        resyncs = 0
        outage_ends = time.monotonic() + 4  # the listener retries after 0.5, 1 and 2 s
        while time.monotonic() < outage_ends:
            event = inbox.get(0.1)
            resyncs += event is not None and event.kind == RESYNC
        assert resyncs == 1  # told the link is lost, not again at each failed retry
        redis_server.start()
        assert receiver.ready.wait(15), "the listener did not reconnect"
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            event = inbox.get(0.1)
            resyncs += event is not None and event.kind == RESYNC
        assert resyncs == 2  # and told once more it is back: what was sent meanwhile is lost
        saved = Event("period:1", "sheet_saved", {"portfolio_id": 3})
        for _ in range(50):  # the publisher's connection comes back on its own
            publisher.publish(saved)
            received = inbox.get(0.2)
            if received is not None:
                break
        assert received == saved
    finally:
        publisher.close()
        receiver.close()
