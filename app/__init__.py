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


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.is_secure:  # over HTTPS, browsers must never come back over plain HTTP
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("HX-Request")
    return response
