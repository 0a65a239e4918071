"""The server-sent-events response: one long-lived stream per open page (SPEC F8).

The stream holds no database connection while it waits (the session is closed before the
first byte, and each event re-opens a short one to render), writes a comment at once so
proxies pass the response on, pings every LIVE_KEEPALIVE_SECONDS so dead connections are
noticed, and ends after LIVE_MAX_STREAM_SECONDS (the browser reconnects, and the page then
refreshes what it may have missed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from flask import Response, current_app
from flask.globals import request_ctx

from app.extensions import db
from app.services import events, live

log = logging.getLogger(__name__)

CLOSE = "close"  # the page's live container closes its EventSource on this event


def format_message(message: live.Message) -> str:
    lines = message.data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return f"event: {message.name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def stream(listener: live.Listener) -> Response:
    """The SSE response for a listener whose access the route has just checked."""
    config = current_app.config
    keepalive = float(config.get("LIVE_KEEPALIVE_SECONDS", 15))
    max_age = float(config.get("LIVE_MAX_STREAM_SECONDS", 3600))
    retry_ms = int(config.get("LIVE_RETRY_MS", 3000))
    # Events closer together than this are rendered once (a sync batch, autosave bursts); every
    # event waits this long before it is rendered (bench/streams.md: 0.15 → 0.05 s).
    window = float(config.get("LIVE_COALESCE_SECONDS", 0.05))
    broker = events.broker()
    # Each event renders in a fresh copy of this request's context (fresh `g`, short
    # database session), not in one context held open for hours.
    context = request_ctx.copy()
    db.session.remove()  # no connection held for the life of the stream

    def render(event: events.Event) -> list[live.Message]:
        with context.copy():
            try:
                return live.messages_for(listener, event)
            except live.AccessEnded:
                raise
            except Exception:
                log.exception("live update %s %s failed to render", event.topic, event.kind)
                return [live.Message(live.REFRESH, "error")]
            finally:
                db.session.remove()

    def generate() -> Iterator[str]:
        # Subscribed here, not in the view: a response that is never read leaks nothing.
        subscription = broker.subscribe(listener.topics)
        try:
            yield f": stream open\nretry: {retry_ms}\n\n"
            deadline = time.monotonic() + max_age
            while (remaining := deadline - time.monotonic()) > 0:
                burst = subscription.get_burst(min(keepalive, remaining), window)
                if not burst:
                    yield ": ping\n\n"
                    continue
                if burst[0].kind == events.ENDED:
                    return  # the process is stopping; the browser reconnects elsewhere
                for event in live.coalesce(listener, burst):
                    try:
                        messages = render(event)
                    except live.AccessEnded:
                        yield format_message(live.Message(CLOSE, "access"))
                        return
                    for message in messages:
                        yield format_message(message)
        finally:
            broker.unsubscribe(subscription)

    response = Response(generate(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
