"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, request, url_for

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
    the same way). Built once per path (and mount point): a page links ~14 assets, and each
    url_for cost ~0.1 ms."""
    root = request.script_root if has_request_context() else ""
    cache: dict[tuple[str, str], str] = current_app.extensions.setdefault("asset_urls", {})
    url = cache.get((root, path))
    if url is None:
        version = current_app.config.get("ASSET_VERSION", "1")
        url = cache[(root, path)] = url_for("static", filename=path, v=version)
    return url
