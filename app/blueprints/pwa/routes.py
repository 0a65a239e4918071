"""Installable web app (SPEC F7): the manifest, the one service worker at the root scope, and
the page it shows when a page is opened with no network.

`/service-worker.js` serves the repository's `service-worker.js` behind a one-line prelude
that gives it its cache version and the list of static files to precache. The version is a
hash of those files (and of ASSET_VERSION and the worker itself), so any release that changes
an asset installs a new worker, which drops the previous caches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request
from werkzeug.wrappers import Response

from app.config import BASE_DIR
from app.templating import asset_url

bp = Blueprint("pwa", __name__)


@bp.record_once
def _default_asset_version(state: Any) -> None:
    """Without an explicit ASSET_VERSION, asset URLs carry a hash of the static files: a
    release that changes an asset changes its URL, so neither the browser's HTTP cache nor
    the service worker's cache can serve the old file."""
    app = state.app
    if not app.config.get("ASSET_VERSION"):
        digest = hashlib.sha256()
        root = Path(app.static_folder or "")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
        app.config["ASSET_VERSION"] = digest.hexdigest()[:10]


MANIFEST = BASE_DIR / "manifest.json"
SERVICE_WORKER = BASE_DIR / "service-worker.js"
OFFLINE_URL = "/hors-connexion"
PRECACHE_SUFFIXES = (".css", ".js", ".png", ".svg", ".ico", ".woff2", ".webp")


def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.get("/manifest.json")
def manifest() -> Response:
    response = Response(MANIFEST.read_bytes(), mimetype="application/manifest+json")
    response.add_etag()
    return _no_cache(response)


@bp.get("/service-worker.js")
def service_worker() -> Response:
    config = worker_config(current_app)
    prelude = f"self.PASSERELLE = {json.dumps(config, separators=(',', ':'))};\n"
    body = prelude + SERVICE_WORKER.read_text(encoding="utf-8")
    response = Response(body, mimetype="text/javascript")
    response.add_etag()
    return _no_cache(response)


@bp.get(OFFLINE_URL)
def offline() -> Response:
    """Shown by the service worker for a page that is not available offline. Personal to
    nobody (it is cached for whoever uses the device next)."""
    response = Response(render_template("pwa/offline.html"), mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def static_files(app: Flask) -> list[Path]:
    root = Path(app.static_folder or "")
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and path.suffix in PRECACHE_SUFFIXES and not path.name.startswith(".")
    )


def worker_config(app: Flask) -> dict[str, Any]:
    """Cache version and precache list; computed once per process (each request in debug)."""
    cached = app.extensions.get("passerelle_sw")
    if cached is not None and not app.debug:
        return cached
    root = Path(app.static_folder or "")
    digest = hashlib.sha256(str(app.config.get("ASSET_VERSION", "1")).encode())
    digest.update(SERVICE_WORKER.read_bytes())
    urls = []
    for path in static_files(app):
        relative = path.relative_to(root).as_posix()
        digest.update(relative.encode())
        digest.update(path.read_bytes())
        urls.append(asset_url(relative))
    config = {"version": digest.hexdigest()[:12], "precache": urls, "offline": OFFLINE_URL}
    app.extensions["passerelle_sw"] = config
    return config
