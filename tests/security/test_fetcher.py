"""The WeasyPrint URL fetcher (app/services/documents/fetcher.py) refuses `file:` and
outside URLs. tests/services/test_documents.py checks the plain cases (file:, http, ftp,
data:text/html, a `..` in a static path); this adds the tricky spellings and proves, with a
real HTTP server on 127.0.0.1 counting its hits, that rendering a hostile document makes no
request and embeds no local file — including through the vectors WeasyPrint itself offers:
`<link rel=attachment>` (files embedded in the PDF), nested SVG images, CSS @import/url().
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from app.services.documents.fetcher import DOCUMENT_BASE_URL, RefusedURL, StaticOnlyFetcher
from app.services.documents.pdf import html_to_pdf


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b"body { color: red }"
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets."""
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    secret = "canary-7f3a9c1e-not-for-documents"
    path = tmp_path / "secret.css"
    path.write_text(f"/* {secret} */ body {{ color: red }}")
    return path, secret


def _fetcher(app: Flask, logo: Path | None = None) -> StaticOnlyFetcher:
    assert app.static_folder is not None
    return StaticOnlyFetcher(app.static_folder, logo=logo)


def test_tricky_spellings_of_outside_urls_are_refused(
    app: Flask, local_server: tuple[str, list[str]], secret_file: tuple[Path, str]
) -> None:
    origin, hits = local_server
    path, _secret = secret_file
    port = origin.rsplit(":", 1)[1]
    fetcher = _fetcher(app)
    refused = [
        f"FILE://{path}",
        f"File://localhost{path}",
        f"file:{path}",
        f"{origin}/static/css/app.css",
        f"http://localhost:{port}/x.css",
        f"http://[::1]:{port}/x.css",
        f"https://documents.passerelle.invalid@127.0.0.1:{port}/static/css/app.css",
        f"https://documents.passerelle.invalid:{port}/static/css/app.css",
        "https://documents.passerelle.invalid.evil.example/static/css/app.css",
        "http://documents.passerelle.invalid/static/css/app.css",  # scheme differs too
        "//example.org/static/css/app.css",
        DOCUMENT_BASE_URL + "static//etc/passwd",
        DOCUMENT_BASE_URL + "static/" + quote(str(path), safe=""),
        DOCUMENT_BASE_URL + "static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        DOCUMENT_BASE_URL + "static/..%5c..%5cpyproject.toml",
        DOCUMENT_BASE_URL + "static/css",  # a folder, not a file
        DOCUMENT_BASE_URL + "school/logo/../../etc/passwd",
        "data:text/css,body{background:url(file:///etc/passwd)}",
        "data:application/pdf;base64,JVBERi0=",
        "javascript:alert(1)",
        "gopher://127.0.0.1:6379/_INFO",
        "jar:file:///tmp/x.zip!/a",
    ]
    for url in refused:
        with pytest.raises((RefusedURL, ValueError)):
            fetcher.fetch(url)
    assert hits == []


def test_the_logo_is_served_only_from_its_configured_path(app: Flask, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\nlogo")
    fetcher = _fetcher(app, logo=logo)
    assert fetcher.fetch(DOCUMENT_BASE_URL + "school/logo").read().endswith(b"logo")
    for url in (
        DOCUMENT_BASE_URL + "school/logo.png",
        DOCUMENT_BASE_URL + "school/" + logo.name,
        f"file://{logo}",
    ):
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)


def test_a_hostile_document_reaches_neither_the_network_nor_local_files(
    app: Flask, local_server: tuple[str, list[str]], secret_file: tuple[Path, str]
) -> None:
    origin, hits = local_server
    path, secret = secret_file
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="10" height="10"><image xlink:href="file://{path}" width="10" height="10"/>'
        f'<image href="{origin}/svg-nested.png" width="10" height="10"/></svg>'
    )
    html = f"""<!doctype html><html lang="fr"><head>
      <link rel="stylesheet" href="{origin}/evil.css">
      <link rel="stylesheet" href="file://{path}">
      <link rel="attachment" href="file://{path}">
      <link rel="attachment" href="{origin}/attachment.txt">
      <style>
        @import url("{origin}/import.css");
        @import url("file://{path}");
        @font-face {{ font-family: x; src: url("{origin}/font.woff"); }}
        body {{ background: url("{origin}/background.png"); }}
      </style>
      <base href="{origin}/">
      </head><body>
      <p>Rencontre tuteur</p>
      <a rel="attachment" href="file://{path}">pièce jointe</a>
      <a rel="attachment" href="{origin}/a.txt">pièce jointe</a>
      <img src="{origin}/img.png" alt="">
      <img src="relative-after-base.png" alt="">
      <img src="data:image/svg+xml,{quote(svg)}" alt="">
      <object data="{origin}/object"></object>
      <iframe src="{origin}/frame"></iframe>
      </body></html>"""
    with app.test_request_context():
        pdf = html_to_pdf(html)
    assert pdf.startswith(b"%PDF")
    assert hits == [], f"the document made requests: {hits}"
    assert secret.encode() not in pdf
    assert b"/EmbeddedFile" not in pdf, "a file was attached to the PDF"
