"""Passerelle: create_app(config) → extensions → blueprints → errors → cli."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, Response, request

from app import db_setup  # noqa: F401  (registers SQLite connection settings)
from app.config import BASE_DIR, INSTANCE_DIR, Config
from app.extensions import csrf, db, login_manager, migrate

# Each area is a package app/blueprints/<name>/ exposing `bp` from routes.py.
BLUEPRINTS: list[str] = [
    "auth",
    "navigation",
    "events",
    "pwa",
    "documents",
    "conventions",
    "periods",
    "liaison",
    "admin",
    "assessments",
    "dashboard",
    "sheets",
    "journal",
    "sync",
    "identity",
    "visits",
    "notifications",
    "accessibility",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'; manifest-src 'self'; worker-src 'self'"
)


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=False)
    app.config.from_object(config or Config(**overrides))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)

    from app import auth_session, errors, templating
    from app.services import events

    auth_session.init_app(app)
    templating.init_app(app)
    events.init_app(app)
    for name in BLUEPRINTS:
        module = importlib.import_module(f"app.blueprints.{name}.routes")
        app.register_blueprint(module.bp)
    errors.init_app(app)

    from app import cli

    cli.init_app(app)
    app.after_request(_security_headers)
    return app


# Set on every response (replacing a value a view set); the CSP only when the view set none.
_ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def _security_headers(response: Response) -> Response:
    # Every response pays this: one pass over the headers the view set (usually 2 or 3), then
    # appends, rather than a search of the list per header (~190 calls down to ~30).
    headers = response.headers
    present = {key.lower() for key, _value in headers}
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", CSP)
    for key, value in _ALWAYS:
        if key.lower() in present:
            headers[key] = value
        else:
            headers.add(key, value)
    if request.is_secure and "strict-transport-security" not in present:
        # over HTTPS, browsers must never come back over plain HTTP
        headers.add("Strict-Transport-Security", "max-age=31536000")
    if "cache-control" not in present and response.mimetype == "text/html":
        headers.add("Cache-Control", "no-store")
    if "vary" not in present:
        headers.add("Vary", "HX-Request")
    elif headers["Vary"] != "HX-Request":
        response.vary.add("HX-Request")
    return response
