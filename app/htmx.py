"""The only code that reads HX-* headers: is this a fragment request, and how to answer."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request, url_for


def is_fragment_request() -> bool:
    """True for an htmx swap; a history restore or a direct open gets the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Boosted") != "true"
    )


def target() -> str | None:
    return request.headers.get("HX-Target")


def render(page: str, fragment: str, status: int = 200, **context: Any) -> Response:
    """Render the partial for an htmx request, the full page (which includes it) otherwise."""
    template = fragment if is_fragment_request() else page
    response = make_response(render_template(template, **context), status)
    if "Vary" in response.headers:
        response.vary.add("HX-Request")
    else:  # a new response: no need to parse a Vary header
        response.headers.add("Vary", "HX-Request")
    return response


def redirect(endpoint_or_url: str, status: int = 303, **values: Any) -> Response:
    """Redirect that htmx follows as a full navigation (HX-Redirect) and browsers as a 303."""
    url = endpoint_or_url if endpoint_or_url.startswith("/") else url_for(endpoint_or_url, **values)
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    response = make_response("", status)
    response.headers["Location"] = url
    return response


def trigger(response: Response, event: str) -> Response:
    response.headers["HX-Trigger"] = event
    return response
