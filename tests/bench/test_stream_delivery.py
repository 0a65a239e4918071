"""How `make bench` counts an event's delivery to the listeners of an assessment
(bench/streams.py): the verdict on issue 14's "within 1 s p95" rests on it."""

from __future__ import annotations

import socket

from bench.streams import Save, Stream, Target, deliveries


def _stream(assessment: int, arrivals: list[float]) -> Stream:
    return Stream(socket.socket(), assessment, parts=len(arrivals), arrivals=arrivals)


def test_delivery_is_the_last_listeners_copy_after_the_event() -> None:
    first, second = Target(1, 11, "a@x"), Target(2, 12, "b@x")
    listeners = {
        1: [_stream(1, [10.3, 20.2]), _stream(1, [10.9, 20.4])],
        2: [_stream(2, [])],  # never received its save
    }
    saves = [
        Save(first, "criterion:1", sent=10.0, answered=10.2, status=200),
        Save(second, "criterion:2", sent=11.0, answered=11.1, status=200),
        Save(first, "criterion:3", sent=20.0, answered=20.1, status=200),
    ]
    on_redis = {("assessment:1", "criterion:1"): 10.1, ("assessment:1", "criterion:3"): 20.1}

    def published(topic: str, key: str, after: float) -> float | None:
        return on_redis.get((topic, key))

    found = deliveries(saves, listeners, published)
    for stream in (s for group in listeners.values() for s in group):
        stream.sock.close()
    assert found["saves"] == 3 and found["delivered_to_all"] == 2
    assert found["missed_deliveries"] == 1  # the second assessment's only listener
    # The first save reached its last listener at 10.9 (not at 20.4, the next save's copy).
    assert found["event_max_ms"] == 800.0
    assert found["send_p95_ms"] == 900.0
    assert found["event_first_p50_ms"] == 200.0  # of 0.1 s (20.2 - 20.1) and 0.2 s (10.3 - 10.1)
