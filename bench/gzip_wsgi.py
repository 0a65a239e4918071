"""The app behind gzip, as the HTTPS reverse proxy of a real deployment serves it (nginx
`gzip on` for HTML, CSS, JavaScript and JSON). Used by `make lighthouse` to score the pages
both as gunicorn alone sends them and as a browser receives them in production:

    gunicorn -c gunicorn.conf.py bench.gzip_wsgi:app

Live-update streams (text/event-stream) and files are passed through untouched."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from typing import Any

from app import create_app

COMPRESSED = ("text/html", "text/css", "application/javascript", "text/javascript",
              "application/json", "application/manifest+json")  # fmt: skip

inner = create_app()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if "gzip" not in environ.get("HTTP_ACCEPT_ENCODING", ""):
        return inner(environ, start_response)
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda _data: None

    body = inner(environ, capture)
    content_type = next(
        (v for k, v in captured["headers"] if k.lower() == "content-type"), ""
    ).split(";")[0]
    if content_type not in COMPRESSED:
        start_response(captured["status"], captured["headers"])
        return body
    try:
        data = gzip.compress(b"".join(body), compresslevel=6)
    finally:
        if hasattr(body, "close"):
            body.close()
    headers = [
        (k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "vary")
    ]
    vary = [v for k, v in captured["headers"] if k.lower() == "vary"]
    headers += [
        ("Content-Encoding", "gzip"),
        ("Content-Length", str(len(data))),
        ("Vary", ", ".join([*vary, "Accept-Encoding"])),
    ]
    start_response(captured["status"], headers)
    return [data]
