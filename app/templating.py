"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_wtf.csrf import generate_csrf

from app import timefmt


def init_app(app: Flask) -> None:
    app.jinja_env.filters["fr_date"] = timefmt.fr_date
    app.jinja_env.filters["fr_datetime"] = timefmt.fr_datetime
    app.jinja_env.filters["fr_long_date"] = timefmt.fr_long_date
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    # Globals rather than a context processor: the same names in every template, without a
    # function call and a new dict on every render.
    app.jinja_env.globals["asset"] = _asset_url_of(app)
    app.jinja_env.globals["fixed_url"] = _fixed_url_of(app)
    app.jinja_env.globals["app_name"] = "Passerelle"
    if "csrf_token" in app.jinja_env.globals:  # CSRFProtect's, when bound to this app
        app.jinja_env.globals["csrf_token"] = _csrf_token_of(app)
        # CSRFProtect also puts its functions in every render's context, which would hide the
        # global above; its global csrf_meta_tag stays.
        processors = app.template_context_processors[None]
        processors[:] = [p for p in processors if p.__module__ != "flask_wtf.csrf"]


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


def _asset_url_of(app: Flask) -> Any:
    """`asset(path)` for templates: asset_url with this app's cache bound once, so that a
    URL already built costs a dictionary lookup (templates render inside a request)."""
    cache: dict[tuple[str, str], str] = app.extensions.setdefault("asset_urls", {})

    def asset(path: str) -> str:
        try:
            root = request.root_path
        except RuntimeError:  # rendered outside a request (a mail, a document)
            root = ""
        url = cache.get((root, path))
        return url if url is not None else asset_url(path)

    return asset


def _fixed_url_of(app: Flask) -> Any:
    """`fixed_url(endpoint)` for templates: the URL of a route without arguments (the layout's
    home, account and footer links), built once per mount point instead of by url_for on
    every page."""
    cache: dict[tuple[str, str], str] = {}

    def fixed_url(endpoint: str) -> str:
        try:
            root = request.root_path
        except RuntimeError:  # outside a request url_for builds an external URL: not cached
            return url_for(endpoint)
        url = cache.get((root, endpoint))
        if url is None:
            url = cache[(root, endpoint)] = url_for(endpoint)
        return url

    return fixed_url


def _csrf_token_of(app: Flask) -> Any:
    """`csrf_token()` for templates: Flask-WTF's generate_csrf signs the token once per request
    and keeps it in `g` under the field name, but reads its settings on every call (~40
    calls; a page asks 3 to 5 times). The first call still goes through it."""
    field_name = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")

    def csrf_token() -> str:
        token = g.get(field_name)
        return token if token is not None else str(generate_csrf())

    return csrf_token
