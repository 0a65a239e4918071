"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, url_for

from app import timefmt


def init_app(app: Flask) -> None:
    app.jinja_env.filters["fr_date"] = timefmt.fr_date
    app.jinja_env.filters["fr_datetime"] = timefmt.fr_datetime
    app.jinja_env.filters["fr_long_date"] = timefmt.fr_long_date
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"asset": asset_url, "app_name": "Passerelle"}


def asset_url(path: str) -> str:
    """Static URL with a version query so a release busts caches (the SW cache is versioned
    the same way)."""
    return url_for("static", filename=path, v=current_app.config.get("ASSET_VERSION", "1"))
