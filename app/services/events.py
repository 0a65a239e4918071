"""Live-update events (SPEC F8). Services call `publish` after the commit; the SSE endpoint
subscribes. Events carry ids only, never personal data. The broker is in-process by default
and Redis pub/sub when REDIS_URL is set (see app/services/broker.py when present)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app


@dataclass
class Event:
    topic: str  # e.g. "period:12", "assessment:40"
    kind: str  # e.g. "sheet_saved", "item_saved"
    data: dict[str, Any] = field(default_factory=dict)  # ids only


class InProcessBroker:
    """Fan-out to the listeners of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[queue.Queue[Event]]] = {}

    def publish(self, event: Event) -> None:
        with self._lock:
            targets = list(self._subscribers.get(event.topic, ()))
        for target in targets:
            target.put_nowait(event)

    def subscribe(self, topics: list[str]) -> queue.Queue[Event]:
        inbox: queue.Queue[Event] = queue.Queue(maxsize=1000)
        with self._lock:
            for topic in topics:
                self._subscribers.setdefault(topic, set()).add(inbox)
        return inbox

    def unsubscribe(self, inbox: queue.Queue[Event]) -> None:
        with self._lock:
            for subscribers in self._subscribers.values():
                subscribers.discard(inbox)

    def listen(self, inbox: queue.Queue[Event], timeout: float) -> Iterator[Event | None]:
        while True:
            try:
                yield inbox.get(timeout=timeout)
            except queue.Empty:
                yield None


def init_app(app: Flask) -> None:
    app.extensions["passerelle_broker"] = InProcessBroker()


def broker() -> InProcessBroker:
    return current_app.extensions["passerelle_broker"]  # type: ignore[no-any-return]


def publish(topic: str, kind: str, **data: Any) -> None:
    """Announce a change. Call after the commit so listeners read committed data."""
    broker().publish(Event(topic=topic, kind=kind, data=data))
