"""Live-update events (SPEC F8). Routes call `publish` after the commit; the SSE streams
(app/blueprints/events) subscribe to topics and turn each event into HTML for their user
(app/services/live.py).

Events carry ids only, never personal data: `publish` refuses anything but ints, booleans and
short id-like strings, because with Redis the event leaves the process. The broker is
in-process by default (one server process) and Redis pub/sub when REDIS_URL is set
(app/services/broker.py), so several gunicorn processes deliver to each other's listeners.

Topics: "period:<id>" (the period view), "assessment:<id>" (an open assessment).
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, current_app, has_request_context, request

log = logging.getLogger(__name__)

# A per-tab id the page sends with its requests (X-Live-Client) and its stream (?client=), so
# the author's own tab does not get the echo of its change.
CLIENT_HEADER = "X-Live-Client"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TOPIC = re.compile(r"^[a-z_]+:\d+$")
KIND = re.compile(r"^[a-z_]{1,40}$")
ID_TEXT = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")  # item keys such as "criterion:12"
RESYNC = "resync"  # delivered to every stream when events may have been lost
ENDED = "ended"  # the stream should end now (the server process is stopping)
INTERNAL_KINDS = frozenset({RESYNC, ENDED})
INBOX_SIZE = 1000


@dataclass(frozen=True)
class Event:
    topic: str  # e.g. "period:12", "assessment:40"
    kind: str  # e.g. "sheet_saved", "item_saved"
    data: dict[str, Any] = field(default_factory=dict)  # ids only
    origin: str | None = None  # client id of the tab that made the change

    def __post_init__(self) -> None:
        if self.kind not in INTERNAL_KINDS and not TOPIC.match(self.topic):
            raise ValueError(f"bad event topic {self.topic!r}")
        if not KIND.match(self.kind):
            raise ValueError(f"bad event kind {self.kind!r}")
        if self.origin is not None and not CLIENT_ID.match(self.origin):
            raise ValueError("bad event origin")
        for key, value in self.data.items():
            if not KIND.match(key) or not _is_id(value):
                raise ValueError(f"event data must be ids only, not {key}={value!r}")

    def to_json(self) -> str:
        return json.dumps(
            {"topic": self.topic, "kind": self.kind, "data": self.data, "origin": self.origin},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event | None:
        """The event on the wire, or None if it is malformed (never trust the channel)."""
        try:
            payload = json.loads(raw)
            return cls(
                topic=str(payload["topic"]),
                kind=str(payload["kind"]),
                data=dict(payload.get("data") or {}),
                origin=payload.get("origin"),
            )
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed live event")
            return None

    @property
    def topic_id(self) -> int | None:
        _, _, number = self.topic.partition(":")
        return int(number) if number.isdigit() else None


def _is_id(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return True
    return isinstance(value, str) and bool(ID_TEXT.match(value))


def resync_event() -> Event:
    return Event(topic="*", kind=RESYNC)


def ended_event() -> Event:
    return Event(topic="*", kind=ENDED)


class Subscription:
    """One stream's inbox. When it overflows (a stuck reader) or the broker lost its link,
    the next `get` answers a resync so the page refreshes instead of silently missing data."""

    def __init__(self, topics: list[str]) -> None:
        self.topics = frozenset(topics)
        self._inbox: queue.Queue[Event] = queue.Queue(maxsize=INBOX_SIZE)
        self._lost = threading.Event()
        self._ended = threading.Event()

    def put(self, event: Event) -> None:
        try:
            self._inbox.put_nowait(event)
        except queue.Full:
            self._lost.set()

    def mark_lost(self) -> None:
        self._lost.set()
        self.put(resync_event())  # wakes a reader blocked in `get`

    def end(self) -> None:
        self._ended.set()
        self.put(ended_event())

    def get(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds without one."""
        if self._ended.is_set():
            return ended_event()
        if not self._lost.is_set():
            try:
                event = self._inbox.get(timeout=timeout)
            except queue.Empty:
                return None
            if event.kind == ENDED:
                return ended_event()
            if event.kind != RESYNC:
                return event
        self._lost.clear()
        self._drain()
        return resync_event()

    def get_burst(self, timeout: float, window: float) -> list[Event]:
        """The next event and those that follow it within `window` seconds (a burst), or []
        after `timeout` seconds without any. Ending and resync come alone, at once."""
        first = self.get(timeout)
        if first is None:
            return []
        burst = [first]
        if first.kind in INTERNAL_KINDS:
            return burst
        deadline = time.monotonic() + window
        while (remaining := deadline - time.monotonic()) > 0:
            event = self.get(remaining)
            if event is None:
                break
            if event.kind in INTERNAL_KINDS:
                return [event]
            burst.append(event)
        return burst

    def _drain(self) -> None:
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                return


class Broker(Protocol):
    def publish(self, event: Event) -> None: ...
    def subscribe(self, topics: list[str]) -> Subscription: ...
    def unsubscribe(self, subscription: Subscription) -> None: ...
    def listener_count(self, topic: str | None = None) -> int: ...
    def end_all(self) -> None: ...
    def close(self) -> None: ...


class InProcessBroker:
    """Fan-out to the listeners of this process (also the local half of the Redis broker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}

    def publish(self, event: Event) -> None:
        with self._lock:
            targets = list(self._subscribers.get(event.topic, ()))
        for target in targets:
            target.put(event)

    def subscribe(self, topics: list[str]) -> Subscription:
        subscription = Subscription(topics)
        with self._lock:
            for topic in subscription.topics:
                self._subscribers.setdefault(topic, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            for topic in subscription.topics:
                subscribers = self._subscribers.get(topic)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._subscribers[topic]

    def mark_all_lost(self) -> None:
        with self._lock:
            targets = {s for subscribers in self._subscribers.values() for s in subscribers}
        for target in targets:
            target.mark_lost()

    def end_all(self) -> None:
        with self._lock:
            targets = {s for subscribers in self._subscribers.values() for s in subscribers}
        for target in targets:
            target.end()

    def listener_count(self, topic: str | None = None) -> int:
        with self._lock:
            if topic is not None:
                return len(self._subscribers.get(topic, ()))
            return len({s for subscribers in self._subscribers.values() for s in subscribers})

    def close(self) -> None:
        with self._lock:
            self._subscribers.clear()


# Every broker of this process, so a stopping server process can end its streams.
_brokers: weakref.WeakSet[Any] = weakref.WeakSet()


def end_all_streams() -> None:
    """End every open stream of this process at once (called when a gunicorn worker stops,
    see gunicorn.conf.py): browsers reconnect, to another worker, instead of the worker
    waiting for its graceful timeout."""
    for live_broker in list(_brokers):
        live_broker.end_all()


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    live_broker: Broker
    if url:
        from app.services.broker import RedisBroker

        live_broker = RedisBroker(url, prefix=app.config.get("LIVE_REDIS_PREFIX", "passerelle:"))
    else:
        live_broker = InProcessBroker()
    app.extensions["passerelle_broker"] = live_broker
    _brokers.add(live_broker)


def broker() -> Broker:
    return current_app.extensions["passerelle_broker"]


def request_client_id() -> str | None:
    """The per-tab client id sent by the page making the current request, if any."""
    if not has_request_context():
        return None
    value = request.headers.get(CLIENT_HEADER) or ""
    return value if CLIENT_ID.match(value) else None


def publish(topic: str, kind: str, **data: Any) -> None:
    """Announce a change. Call after the commit so listeners read committed data.

    Pass ids only (e.g. `publish(f"period:{p.period_id}", "sheet_saved", portfolio_id=p.id,
    sheet_id=s.id)`, `publish(f"assessment:{a.id}", "item_saved", item_key=key,
    author_id=user.id)`). Never raises for a broker outage: the change is committed, and a
    missed live update is repaired when the page reconnects."""
    event = Event(topic=topic, kind=kind, data=data, origin=request_client_id())
    try:
        broker().publish(event)
    except Exception:
        log.exception("could not publish live event %s %s", topic, kind)
