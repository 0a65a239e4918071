"""Crawl the app as one signed-in user, the way a newcomer clicks around the demo.

Follows, from the pages it receives: links (`a[href]`), htmx targets (`[hx-get]`, requested
with `HX-Request: true` as htmx does), the level selector (`option[data-url]` and the options
of a `<form method="get">`'s `<select>`) and images (`img[src]`). Same origin and GET only;
URLs are deduplicated; the endpoint (url_rule) visited least so far goes next, each one at
most `per_endpoint` times (`per_download` when it answers something other than HTML: PDF and
DOCX are slow to build), at most `cap` requests in all. Live streams (`/events/…`) are never opened.

Used by the HTTP crawl of the demo (tests/test_demo_crawl.py) and, to pick one
representative URL per endpoint, by the accessibility sweep (tests/e2e/)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

from flask import Flask
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.models import IdentityProvider

SKIP_PREFIXES = ("/events/", "/deconnexion")


def add_identity_provider() -> None:
    """The demo has no ENT (its sign-in would lead nowhere); the crawls add one, enabled, so the
    sign-in button on /connexion and the provider's admin page are reached and swept too."""
    db.session.add(
        IdentityProvider(
            protocol="cas",
            label="ENT de l'académie",
            server_url="https://cas.ent.example.fr/cas",
            email_claim="mail",
        )
    )
    db.session.commit()


@dataclass(frozen=True)
class Target:
    url: str
    htmx: bool = False


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Target] = []
        self._get_form: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "a" and a.get("href"):
            self.found.append(Target(a["href"]))
        if a.get("hx-get"):
            self.found.append(Target(a["hx-get"], htmx=True))
        if tag == "img" and a.get("src"):
            self.found.append(Target(a["src"]))
        if a.get("data-url"):
            self.found.append(Target(a["data-url"]))
        if tag == "form" and a.get("method", "get").lower() == "get" and "action" in a:
            self._get_form = a["action"]
        if tag == "select" and self._get_form is not None:
            self._select = a.get("name")
        if tag == "option" and self._get_form is not None and self._select and a.get("value"):
            query = urlencode({self._select: a["value"]})
            self.found.append(Target(f"{self._get_form}?{query}"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._get_form = None
        if tag == "select":
            self._select = None


def links_of(html: str) -> list[Target]:
    parser = _Links()
    parser.feed(html)
    return parser.found


@dataclass
class Visit:
    url: str
    htmx: bool
    status: int
    endpoint: str
    referrer: str
    content_type: str


@dataclass
class CrawlResult:
    visits: list[Visit] = field(default_factory=list)

    @property
    def broken(self) -> list[Visit]:
        return [v for v in self.visits if v.status >= 400]

    def endpoints(self) -> set[str]:
        return {v.endpoint for v in self.visits}

    def representatives(self) -> dict[str, str]:
        """One HTML page per endpoint (the first reached), for the browser sweep."""
        chosen: dict[str, str] = {}
        for visit in self.visits:
            if visit.status == 200 and visit.content_type.startswith("text/html"):
                chosen.setdefault(visit.endpoint, visit.url)
        return chosen


def endpoint_of(app: Flask, path: str) -> str:
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path, method="GET")
    except HTTPException:
        return "?"
    return str(endpoint)


def _local(base: str, href: str) -> str | None:
    absolute = urljoin(base, href.strip())
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or parts.netloc != "localhost":
        return None
    if parts.path.startswith(SKIP_PREFIXES):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def crawl(
    app: Flask,
    get: Callable[[str, bool], tuple[int, str, str]],
    start: str = "/",
    cap: int = 250,
    per_endpoint: int = 4,
    per_download: int = 1,
    downloads: dict[str, int] | None = None,
) -> CrawlResult:
    """From `start`, visit the endpoint visited least so far next (round robin over url_rules,
    breadth-first within one), so a capped crawl still sees every kind of page. `get(url,
    htmx)` answers (status, content type, body text) after following redirects. Pass the same
    `downloads` dict to several crawls to share the download budget among them."""
    result = CrawlResult()
    queues: dict[str, deque[tuple[Target, str]]] = {}
    seen: set[Target] = set()
    per: dict[str, int] = {}
    downloads = {} if downloads is None else downloads  # endpoint → files fetched

    def push(target: Target, referrer: str) -> None:
        if target not in seen:
            seen.add(target)
            endpoint = endpoint_of(app, urlsplit(target.url).path)
            queues.setdefault(endpoint, deque()).append((target, referrer))

    def open_(endpoint: str) -> bool:
        if endpoint in downloads:
            return downloads[endpoint] < per_download
        return per.get(endpoint, 0) < per_endpoint

    push(Target(start), "(début)")
    while len(result.visits) < cap:
        ready = [e for e, q in queues.items() if q and open_(e)]
        if not ready:
            break
        endpoint = min(ready, key=lambda e: per.get(e, 0))
        target, referrer = queues[endpoint].popleft()
        per[endpoint] = per.get(endpoint, 0) + 1
        status, content_type, body = get(target.url, target.htmx)
        result.visits.append(
            Visit(target.url, target.htmx, status, endpoint, referrer, content_type)
        )
        if not content_type.startswith("text/html"):
            downloads[endpoint] = downloads.get(endpoint, 0) + 1
            continue
        base = f"http://localhost{target.url}"
        for found in links_of(body):
            url = _local(base, found.url)
            if url is not None:
                push(Target(url, found.htmx), target.url)
    return result


def report(result: CrawlResult) -> str:
    return "\n".join(
        f"{v.status} {'(htmx) ' if v.htmx else ''}{v.url}  ← lien trouvé sur {v.referrer}"
        for v in result.broken
    )
