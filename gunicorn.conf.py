"""Gunicorn settings for Passerelle's pages (`gunicorn -c gunicorn.conf.py`).

Threaded workers (gthread) for the pages: a CPU-heavy request (a PDF, the grid) shares the
process with the others instead of stopping them. The live-update streams are served by
gunicorn_streams.conf.py (gevent: a stream is a greenlet, not a thread), which the reverse
proxy routes /events/ to, both sharing REDIS_URL. Should a stream reach this server anyway
(no proxy rule), it holds one thread for as long as its page stays open, without a database
connection; `threads` leaves room for a few. With several workers set REDIS_URL so that an
event published by one process reaches the streams held by the others.

Environment: GUNICORN_BIND (default 127.0.0.1:5000), GUNICORN_WORKERS (2 with REDIS_URL and
PostgreSQL, else 1),
GUNICORN_THREADS (64), GUNICORN_ACCESS_LOG (unset: no access log; "-" for stdout).
"""

import os
from typing import Any

wsgi_app = "app:create_app()"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
# Without Redis, live events stay inside the process that published them: one process then.
# On SQLite too: its one write lock is fairly shared by the threads of one process (they queue
# in app/db_setup.py), not across processes (bench/sqlite_writers.md).
_postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
# Not 3 on 2 cores: the mix then costs 45-46 ms of server CPU per request, against 30-39 ms with
# 2 workers (least with 16 threads) on PostgreSQL (bench/gunicorn_sweep.md, `make bench-gunicorn`).
workers = int(
    os.environ.get("GUNICORN_WORKERS") or (2 if os.environ.get("REDIS_URL") and _postgres else 1)
)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
# Idle keep-alive connections a worker keeps besides the busy threads.
worker_connections = 1000
keepalive = 5
# gthread workers report liveness from their main loop, so a long stream does not count as
# a stuck request; this only catches a worker that stopped responding altogether.
timeout = 120
# On restart, open streams are cut after this; browsers reconnect on their own.
graceful_timeout = 10
# Each worker builds its own app (and its own Redis listener thread) after the fork.
preload_app = False
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No local control socket (gunicornc): nothing here needs it, and its default path is shared
# by every gunicorn of the same user.
control_socket_disable = True


def on_starting(server: Any) -> None:
    if server.cfg.workers > 1 and not os.environ.get("REDIS_URL"):
        server.log.warning(
            "%d workers without REDIS_URL: live updates only reach pages whose stream is held "
            "by the worker that published them. Set REDIS_URL, or run one worker.",
            server.cfg.workers,
        )


def _end_live_streams() -> None:
    from app.services import events

    events.end_all_streams()


def post_worker_init(worker: Any) -> None:
    """On SIGTERM (graceful stop, reload), end this worker's live streams at once so it stops
    in a moment instead of waiting `graceful_timeout` for streams that never finish."""
    import signal

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        _end_live_streams()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    from app.gc_setup import freeze_loaded_app

    freeze_loaded_app()  # bench: framework-link grid p95 104 → 22 ms


def worker_int(worker: Any) -> None:
    """SIGINT / SIGQUIT (quick stop): same, before the worker exits."""
    _end_live_streams()
