"""The reference for `make bench`'s throughput: a hello-world Flask app served by the same
gunicorn command and settings (gunicorn.conf.py, 2 gthread processes × 16 threads) and loaded
by the same tool and users in the same run, so that the ratio Passerelle / hello-world shows
what is ours whatever the machine's speed or load."""

from __future__ import annotations

import importlib

from flask import Flask

# gunicorn.conf.py's SIGTERM handler ends the live streams of app.services.events: loaded here
# so that the worker stops cleanly (import time only; nothing of it runs per request).
importlib.import_module("app.services.events")

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> str:
    return "ok"


@app.get("/")
def hello() -> str:
    return "Hello, World!"
