"""Gunicorn settings for the live-update streams (`gunicorn -c gunicorn_streams.conf.py`).

The same Flask app as gunicorn.conf.py (same routes, session cookie, Flask-Login and
app/access.py checks), served by gevent workers: a server-sent-events stream is a greenlet
waiting on its inbox, not a thread, so one process holds thousands of them (bench/streams.py
measures the memory per stream and the delivery latency).

Two ways to run it:
- Production, behind the reverse proxy: the pages on gunicorn.conf.py (gthread), the proxy's
  `location /events/` on this server, both processes sharing REDIS_URL. CPU-heavy requests
  (PDFs, the grid) then never delay a stream's events, since a gevent worker runs one request
  at a time between two waits.
- `make run`, or any single-process setup without Redis: this server alone, for every route
  (without Redis an event only reaches the streams of the process that published it).

Environment: GUNICORN_STREAMS_BIND (default 127.0.0.1:5001), GUNICORN_STREAMS_WORKERS (1),
GUNICORN_STREAMS_CONNECTIONS (open connections per worker, 4000); the rest as gunicorn.conf.py.
"""

import os
import resource
import runpy
from pathlib import Path

# The page server's settings and hooks (end the streams at once on a graceful stop, freeze the
# loaded app for the garbage collector, warn about several workers without Redis).
_base = runpy.run_path(str(Path(__file__).resolve().with_name("gunicorn.conf.py")))
globals().update({k: v for k, v in _base.items() if not k.startswith("_")})

bind = os.environ.get("GUNICORN_STREAMS_BIND", "127.0.0.1:5001")
worker_class = "gevent"
# One process holds the streams of a whole school (bench: 1,000 streams, ~33 KB each); add
# workers (with REDIS_URL) only if its CPU, the rendering of events, becomes the limit.
workers = int(os.environ.get("GUNICORN_STREAMS_WORKERS") or 1)
worker_connections = int(os.environ.get("GUNICORN_STREAMS_CONNECTIONS", "4000"))
# Each stream is a socket: lift the soft limit of open files (often 1,024) towards the hard one,
# for the workers forked from here.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_wanted = worker_connections + 256
if _soft != resource.RLIM_INFINITY and _soft < _wanted:
    _ceiling = _wanted if _hard == resource.RLIM_INFINITY else min(_hard, _wanted)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(_soft, _ceiling), _hard))
# A stream that ends leaves its connection idle; a stopping worker waits for idle connections
# to time out before it exits, so keep this short (a browser opens a new one to reconnect).
keepalive = 2
