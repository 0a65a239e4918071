"""Redis pub/sub backend of the live-update broker, chosen when REDIS_URL is set.

Every process publishes to Redis and runs one listener thread that receives all Passerelle
channels (a pattern subscription) and fans them out to the streams of this process through
an in-process broker. Only ids travel through Redis (`Event.to_json`); each stream renders
HTML for its own user. The listener thread starts lazily on the first subscription and again
in a forked worker (threads do not survive fork), and reconnects after a Redis outage; the
streams are then told to resync, since events may have been lost meanwhile."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

import redis

from app.services.events import Event, InProcessBroker, Subscription

log = logging.getLogger(__name__)


class RedisBroker:
    def __init__(self, url: str, prefix: str = "passerelle:") -> None:
        self.url = url
        self.prefix = prefix
        self.local = InProcessBroker()
        self.ready = threading.Event()  # the listener is subscribed
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._client_pid: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._stop = threading.Event()

    # --- publishing -----------------------------------------------------------------------

    def _redis(self) -> redis.Redis:
        if self._client is None or self._client_pid != os.getpid():
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
            )
            self._client_pid = os.getpid()
        return self._client

    def publish(self, event: Event) -> None:
        try:
            self._redis().publish(self.prefix + event.topic, event.to_json())
        except redis.RedisError:
            # Redis is down: at least the listeners of this process hear about it.
            log.warning("Redis unavailable, live event %s delivered locally only", event.topic)
            self.local.publish(event)

    # --- listening ------------------------------------------------------------------------

    def subscribe(self, topics: list[str]) -> Subscription:
        self._ensure_listener()
        return self.local.subscribe(topics)

    def unsubscribe(self, subscription: Subscription) -> None:
        self.local.unsubscribe(subscription)

    def _ensure_listener(self) -> None:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if alive and self._thread_pid == os.getpid():
                return
            self._stop = threading.Event()
            self.ready.clear()
            self._thread_pid = os.getpid()
            self._thread = threading.Thread(
                target=self._listen, args=(self._stop,), name="passerelle-live-redis", daemon=True
            )
            self._thread.start()

    def _listen(self, stop: threading.Event) -> None:
        backoff = 0.5
        connected_before = False
        told_lost = False  # the streams were told once that this outage may lose events
        while not stop.is_set():
            pubsub: Any = None
            try:
                client = redis.Redis.from_url(
                    self.url,
                    socket_connect_timeout=2,
                    health_check_interval=30,
                    client_name=f"{self.prefix.rstrip(':')}-listener-{os.getpid()}",
                )
                pubsub = client.pubsub()
                pubsub.psubscribe(self.prefix + "*")
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        if connected_before:
                            self.local.mark_all_lost()  # events sent meanwhile are gone
                        connected_before, told_lost = True, False
                        backoff = 0.5
                        self.ready.set()
                    elif message["type"] == "pmessage":
                        event = Event.from_json(message["data"])
                        if event is not None:
                            self.local.publish(event)
            except Exception:  # keep the thread alive whatever Redis does
                if not stop.is_set():
                    log.warning("live updates: Redis listener lost, retrying in %.1fs", backoff)
                    self.ready.clear()
                    if not told_lost:  # once per outage, not at each failed retry: every
                        self.local.mark_all_lost()  # resync re-fetches every open page
                        told_lost = True
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # closing a broken connection
                        pubsub.close()

    def listener_count(self, topic: str | None = None) -> int:
        return self.local.listener_count(topic)

    def end_all(self) -> None:
        self.local.end_all()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=3)
        self.local.close()
