"""The URL fetcher WeasyPrint uses for every document: it serves the app's own static files
(stylesheets, icons) and the school's logo, and nothing else.

Document HTML can carry user text (objectives, comments, company names); escaping keeps tags
out, but a stylesheet or an `<img>` that slipped through must still not read the server's
files (`file:///etc/passwd`) or make the server call an outside host (SSRF). So the fetcher
never touches the network or an arbitrary path: a URL is either under DOCUMENT_BASE_URL and
maps to a file inside one of the allowed folders, or an inline image (`data:image/...`), or
it is refused — WeasyPrint then logs a warning and renders the document without it.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

# A host that cannot resolve (RFC 6761 `.invalid`): relative URLs in document HTML resolve
# against it, and the fetcher maps it to local folders without any network access.
DOCUMENT_BASE_URL = "https://documents.passerelle.invalid/"
STATIC_PREFIX = "/static/"
LOGO_PATH = "/school/logo"
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"}


class RefusedURL(ValueError):
    """The document asked for something outside the app's own files."""


class StaticOnlyFetcher(URLFetcher):
    """Serve `<base>/static/<path>` from `static_dir`, `<base>/school/logo` from `logo`,
    inline images, and refuse everything else."""

    def __init__(self, static_dir: str | Path, logo: str | Path | None = None) -> None:
        super().__init__(allowed_protocols=())
        self.static_dir = Path(static_dir).resolve()
        self.logo = Path(logo).resolve() if logo else None
        base = urlsplit(DOCUMENT_BASE_URL)
        self._origin = (base.scheme, base.netloc)

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return _inline_image(url)
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            raise RefusedURL(f"document resource refused: {url[:80]}")
        path = unquote(parts.path)
        if path == LOGO_PATH and self.logo is not None:
            return _file_response(url, self.logo)
        if path.startswith(STATIC_PREFIX):
            target = (self.static_dir / path[len(STATIC_PREFIX) :]).resolve()
            if target.is_relative_to(self.static_dir) and target.is_file():
                return _file_response(url, target)
        raise RefusedURL(f"document resource not found: {path[:80]}")


def _file_response(url: str, path: Path) -> URLFetcherResponse:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})


def _inline_image(url: str) -> URLFetcherResponse:
    """Decode `data:image/<type>[;base64],<payload>`; any other media type is refused."""
    header, _, payload = url[len("data:") :].partition(",")
    params = header.split(";")
    media_type = params[0].strip().lower()
    if media_type not in INLINE_IMAGE_TYPES:
        raise RefusedURL("only inline images are allowed in documents")
    if "base64" in params[1:]:
        body = base64.b64decode(payload, validate=False)
    else:
        body = unquote(payload).encode()
    return URLFetcherResponse("data:", body, {"Content-Type": media_type})
