"""The live-update broker: in-process fan-out, and Redis pub/sub between processes.

The Redis tests use REDIS_URL (default redis://127.0.0.1:6379/0) with a channel prefix of
their own. They are skipped only when Redis is unreachable AND this is not CI (CI sets
REDIS_URL and must run them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from app import create_app
from app.config import BASE_DIR
from app.services import events
from app.services.broker import RedisBroker
from app.services.events import ENDED, RESYNC, Event, InProcessBroker
from tests.conftest import _test_config

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


requires_redis = pytest.mark.skipif(
    not _redis_up() and not os.environ.get("CI"), reason=f"Redis unreachable at {REDIS_URL}"
)


def sheet_saved(period_id: int = 1, portfolio_id: int = 2) -> Event:
    return Event(f"period:{period_id}", "sheet_saved", {"portfolio_id": portfolio_id})


# --- in-process ---------------------------------------------------------------------------


def test_events_reach_the_subscribers_of_their_topic_only() -> None:
    broker = InProcessBroker()
    one, two, other = (
        broker.subscribe(["period:1"]),
        broker.subscribe(["period:1"]),
        broker.subscribe(["period:9"]),
    )
    broker.publish(sheet_saved(1))
    assert one.get(0.1) == sheet_saved(1)
    assert two.get(0.1) == sheet_saved(1)
    assert other.get(0.05) is None


def test_unsubscribed_inbox_gets_nothing() -> None:
    broker = InProcessBroker()
    inbox = broker.subscribe(["period:1"])
    broker.unsubscribe(inbox)
    broker.publish(sheet_saved(1))
    assert inbox.get(0.05) is None
    assert broker.listener_count() == 0


def test_a_stuck_reader_is_told_to_resync_instead_of_missing_events() -> None:
    broker = InProcessBroker()
    inbox = broker.subscribe(["period:1"])
    for portfolio in range(events.INBOX_SIZE + 5):
        broker.publish(sheet_saved(1, portfolio))
    first = inbox.get(0.1)
    assert first is not None and first.kind == RESYNC
    broker.publish(sheet_saved(1, 77))
    assert inbox.get(0.1) == sheet_saved(1, 77)  # and then carries on


def test_ending_all_streams_wakes_their_readers() -> None:
    broker = InProcessBroker()
    inbox = broker.subscribe(["period:1"])
    broker.end_all()
    first = inbox.get(5)
    assert first is not None and first.kind == ENDED


def test_publish_never_fails_the_request(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_event: Event) -> None:
        raise ConnectionError("broker down")

    with app.app_context():
        monkeypatch.setattr(events.broker(), "publish", broken)
        events.publish("period:1", "sheet_saved", portfolio_id=2)  # logged, not raised


# --- Redis --------------------------------------------------------------------------------


@pytest.fixture
def prefix() -> str:
    return f"passerelle-test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def two_processes(prefix: str) -> Iterator[tuple[RedisBroker, RedisBroker]]:
    """Two brokers with their own connections and listener threads, as two processes have."""
    first, second = RedisBroker(REDIS_URL, prefix), RedisBroker(REDIS_URL, prefix)
    yield first, second
    first.close()
    second.close()


def _listening(broker: RedisBroker, topics: list[str]) -> events.Subscription:
    subscription = broker.subscribe(topics)
    assert broker.ready.wait(5), "Redis listener did not subscribe"
    return subscription


@requires_redis
def test_redis_delivers_to_the_other_processes_listeners(
    two_processes: tuple[RedisBroker, RedisBroker],
) -> None:
    publisher, receiver = two_processes
    theirs = _listening(receiver, ["period:1"])
    ours = _listening(publisher, ["period:1"])
    start = time.monotonic()
    publisher.publish(sheet_saved(1))
    assert theirs.get(2) == sheet_saved(1)
    assert time.monotonic() - start < 1.0
    assert ours.get(2) == sheet_saved(1)  # the publishing process's own streams too


@requires_redis
def test_redis_keeps_topics_apart(two_processes: tuple[RedisBroker, RedisBroker]) -> None:
    publisher, receiver = two_processes
    inbox = _listening(receiver, ["period:1"])
    publisher.publish(sheet_saved(2))
    publisher.publish(sheet_saved(1, 5))
    assert inbox.get(2) == sheet_saved(1, 5)  # period 2's event never arrived


@requires_redis
def test_only_ids_travel_through_redis(
    two_processes: tuple[RedisBroker, RedisBroker], prefix: str
) -> None:
    publisher, _receiver = two_processes
    spy = redis.Redis.from_url(REDIS_URL).pubsub()
    spy.psubscribe(prefix + "*")
    assert spy.get_message(timeout=2)["type"] == "psubscribe"
    publisher.publish(
        Event(
            "assessment:4",
            "item_saved",
            {"item_key": "criterion:12", "author_id": 7},
            "tab-12345678",
        )
    )
    message = spy.get_message(timeout=2)
    spy.close()
    assert message is not None and message["channel"] == (prefix + "assessment:4").encode()
    payload = json.loads(message["data"])
    assert payload == {
        "topic": "assessment:4",
        "kind": "item_saved",
        "data": {"item_key": "criterion:12", "author_id": 7},
        "origin": "tab-12345678",
    }


@requires_redis
def test_a_malformed_message_is_ignored(
    two_processes: tuple[RedisBroker, RedisBroker], prefix: str
) -> None:
    _publisher, receiver = two_processes
    inbox = _listening(receiver, ["period:1"])
    raw = redis.Redis.from_url(REDIS_URL)
    raw.publish(prefix + "period:1", "not json")
    raw.publish(
        prefix + "period:1",
        json.dumps({"topic": "period:1", "kind": "sheet_saved", "data": {"name": "Inès"}}),
    )
    raw.publish(prefix + "period:1", sheet_saved(1).to_json())
    assert inbox.get(2) == sheet_saved(1)


@requires_redis
def test_after_losing_redis_the_listener_reconnects_and_streams_resync(
    two_processes: tuple[RedisBroker, RedisBroker], prefix: str
) -> None:
    publisher, receiver = two_processes
    inbox = _listening(receiver, ["period:1"])
    admin = redis.Redis.from_url(REDIS_URL)
    name = f"{prefix.rstrip(':')}-listener-{os.getpid()}"
    ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
    assert ids, "listener connection not found"
    for client_id in ids:
        admin.client_kill_filter(_id=client_id)
    first = inbox.get(15)
    assert first is not None and first.kind == RESYNC  # the page refreshes what it missed
    assert receiver.ready.wait(15)
    while inbox.get(0.3) is not None:  # the resync of the reconnection itself
        pass
    publisher.publish(sheet_saved(1, 8))  # and events flow again
    received = inbox.get(5)
    assert received == sheet_saved(1, 8)


def test_without_redis_publishing_still_reaches_local_listeners(prefix: str) -> None:
    broker = RedisBroker("redis://127.0.0.1:1/0", prefix)  # nothing listens there
    try:
        inbox = broker.local.subscribe(["period:1"])
        broker.publish(sheet_saved(1))  # no exception
        assert inbox.get(1) == sheet_saved(1)
    finally:
        broker.close()


@requires_redis
def test_redis_broker_is_chosen_when_redis_url_is_set(tmp_path: Path) -> None:
    app = create_app(**_test_config(tmp_path, REDIS_URL=REDIS_URL))
    assert isinstance(app.extensions["passerelle_broker"], RedisBroker)
    plain = create_app(**_test_config(tmp_path))
    assert isinstance(plain.extensions["passerelle_broker"], InProcessBroker)


SUBSCRIBER = """
import sys
from app.services.broker import RedisBroker
broker = RedisBroker(sys.argv[1], sys.argv[2])
inbox = broker.subscribe(["period:1"])
broker.ready.wait(10)
print("ready", flush=True)
event = inbox.get(10)
print(event.to_json() if event else "nothing", flush=True)
"""


@requires_redis
def test_a_separate_process_receives_the_event(prefix: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, REDIS_URL, prefix],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        publisher = RedisBroker(REDIS_URL, prefix)
        publisher.publish(sheet_saved(1, 3))
        publisher.close()
        assert Event.from_json(child.stdout.readline()) == sheet_saved(1, 3)
    finally:
        child.kill()
        child.wait()
