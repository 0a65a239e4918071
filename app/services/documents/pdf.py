"""HTML → PDF with WeasyPrint, through the static-only fetcher.

Templates under `templates/documents/` extend `documents/_print_base.html`, which links
`/static/css/print-documents.css`; relative URLs resolve against DOCUMENT_BASE_URL so the
fetcher, not the network, answers them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, render_template
from weasyprint import HTML

from app.services.documents.fetcher import DOCUMENT_BASE_URL, StaticOnlyFetcher


def html_to_pdf(html: str, *, logo: Path | None = None) -> bytes:
    """Render an HTML string to PDF bytes; resources come only from the app's static files
    (and the school logo)."""
    static_dir = current_app.static_folder
    assert static_dir is not None
    fetcher = StaticOnlyFetcher(static_dir, logo=logo)
    document = HTML(string=html, base_url=DOCUMENT_BASE_URL, url_fetcher=fetcher)
    pdf: bytes = document.write_pdf()
    return pdf


def render_pdf(template: str, *, logo: Path | None = None, **context: Any) -> bytes:
    """Render a Jinja template of `templates/documents/` and convert it to PDF."""
    return html_to_pdf(render_template(template, **context), logo=logo)
