"""Simulated phones and laptops speaking the real /api/sync contract as app/static/js/outbox.js
does, live listeners on /events/bilans/<id>, and the ledger of everything they sent and got.

A device signs in through the real form, keeps an outbox of changes (a UUID each, the item's
base version, the device time with its UTC offset), and flushes it like the browser client:
a fresh CSRF token from GET /api/csrf before each send, at most one entry per item per batch,
an entry deleted only when a receipt names its UUID, a new change to an item replacing the
waiting one that was never sent, the next change of an item re-based on the version its
receipt reports; a network error, a timeout, a 5xx or a 401 keep every entry for the next
attempt (after a sign-in again for a 401)."""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests import factories

PARIS = timezone(timedelta(hours=1))
MAX_BATCH = 100


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Http:
    """One request per connection (`Connection: close`), the session cookie kept by hand."""

    def __init__(self, base: str, timeout: float = 30) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", int(parts.port or 80)
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            sent = {"Connection": "close", **(headers or {})}
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    pair = value.split(";", 1)[0]
                    key, _, cookie = pair.partition("=")
                    self.cookies[key.strip()] = cookie.strip()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            connection.close()

    def login(self, email: str) -> None:
        page = self.request("GET", "/connexion").body.decode()
        tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)
        token = re.search(r'value="([^"]+)"', tag.group(0)).group(1) if tag else ""  # type: ignore[union-attr]
        form = {"csrf_token": token, "email": email, "password": factories.PASSWORD}
        answer = self.request(
            "POST",
            "/connexion",
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if answer.status not in (302, 303):
            raise RuntimeError(f"sign-in of {email} failed: {answer.status}")


def device_time(moment: datetime | None = None) -> str:
    """ISO 8601 with the device's offset, as outbox.js writes it."""
    moment = (moment or datetime.now(UTC)).astimezone(PARIS)
    return moment.isoformat(timespec="milliseconds")


# --- the ledger ------------------------------------------------------------------------------


@dataclass
class Sent:
    uuid: str
    device: str
    assessment_id: int
    item_key: str
    value: str | None
    device_time: str
    kind: str  # "owned" (only this device changes the item), "collision", "final"
    base_version: int | None = None


class Ledger:
    """Every change made (and whether it was ever sent), every receipt and error received."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changes: dict[str, Sent] = {}
        self.order: dict[tuple[int, str], list[str]] = {}  # item → uuids in the device's order
        self.replaced: set[str] = set()  # replaced on the device before any send
        self.sent: set[str] = set()
        self.receipts: dict[str, list[dict[str, Any]]] = {}
        self.errors: dict[str, list[dict[str, Any]]] = {}
        self.statuses: dict[str, int] = {}  # "200", "500", "conn", "timeout" → count
        self.replays = 0
        self.replay_mismatches: list[str] = []
        self.reuses = 0
        self.reuse_refused = 0
        self.reuse_taken: list[str] = []
        self.posts = 0

    def count(self, what: str) -> None:
        with self.lock:
            self.statuses[what] = self.statuses.get(what, 0) + 1

    def made(self, change: Sent) -> None:
        with self.lock:
            self.changes[change.uuid] = change
            self.order.setdefault((change.assessment_id, change.item_key), []).append(change.uuid)

    def acknowledged(self) -> set[str]:
        return set(self.receipts)


# --- a device --------------------------------------------------------------------------------


@dataclass
class Entry:
    change: Sent
    base_version: int | None
    sent: bool = False
    error: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        c = self.change
        return {
            "uuid": c.uuid,
            "type": "assessment_item",
            "assessment_id": c.assessment_id,
            "item_key": c.item_key,
            "value": c.value,
            "device_time": c.device_time,
            "base_version": self.base_version,
        }


@dataclass
class Device:
    name: str
    email: str
    base: str
    ledger: Ledger
    rng: random.Random
    outbox: list[Entry] = field(default_factory=list)
    versions: dict[tuple[int, str], int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # wire changes acknowledged
    http: Http = field(init=False)
    signed_in: bool = False
    latencies: list[tuple[int, float]] = field(default_factory=list)  # (status, s) per POST

    def __post_init__(self) -> None:
        self.http = Http(self.base)

    # --- making changes ----------------------------------------------------------------

    def change(
        self,
        assessment_id: int,
        key: str,
        value: str | None,
        kind: str = "owned",
        moment: datetime | None = None,
        base_version: int | None = None,
    ) -> Sent:
        item = (assessment_id, key)
        base = base_version if base_version is not None else self.versions.get(item, 0)
        for entry in list(self.outbox):
            if (entry.change.assessment_id, entry.change.item_key) == item and not entry.sent:
                # Never sent: the new change replaces it (same base, new UUID), as outbox.js.
                base = entry.base_version if base_version is None else base
                self.outbox.remove(entry)
                with self.ledger.lock:
                    self.ledger.replaced.add(entry.change.uuid)
        sent = Sent(str(uuid.uuid4()), self.name, assessment_id, key, value, device_time(moment),
                    kind, base)  # fmt: skip
        self.ledger.made(sent)
        self.outbox.append(Entry(sent, base))
        return sent

    # --- sending, as outbox.js ---------------------------------------------------------

    def _token(self) -> str | None:
        try:
            if not self.signed_in:
                self.http.login(self.email)
                self.signed_in = True
            answer = self.http.request("GET", "/api/csrf", headers={"Accept": "application/json"})
        except (OSError, http.client.HTTPException, RuntimeError):
            self.ledger.count("conn")
            return None
        if answer.status == 401:
            self.signed_in = False
            return None
        body = answer.json()
        if answer.status != 200 or not isinstance(body, dict) or "csrf_token" not in body:
            self.ledger.count(str(answer.status))
            return None
        return str(body["csrf_token"])

    def post(self, token: str, changes: list[dict[str, Any]]) -> Answer | None:
        body = json.dumps({"changes": changes}).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-CSRFToken": token,
        }
        with self.ledger.lock:
            self.ledger.posts += 1
        began = time.monotonic()
        try:
            answer = self.http.request("POST", "/api/sync", body, headers)
            self.latencies.append((answer.status, time.monotonic() - began))
        except TimeoutError:
            self.ledger.count("timeout")
            return None
        except (OSError, http.client.HTTPException):
            self.ledger.count("conn")
            return None
        self.ledger.count(str(answer.status))
        if answer.status == 401:
            self.signed_in = False
        return answer

    def _batch(self) -> list[Entry]:
        seen: set[tuple[int, str]] = set()
        batch = []
        for entry in self.outbox:
            item = (entry.change.assessment_id, entry.change.item_key)
            if entry.error is not None or item in seen:
                continue
            seen.add(item)
            batch.append(entry)
            if len(batch) >= MAX_BATCH:
                break
        return batch

    def flush(self, rounds: int = 25) -> str:
        """Send what waits; "empty", "ok" or the failure that stopped it ("offline"...)."""
        if not self.outbox:
            return "empty"
        token = self._token()
        if token is None:
            return "offline"
        for _ in range(rounds):
            batch = self._batch()
            if not batch:
                return "ok"
            for entry in batch:
                entry.sent = True
                with self.ledger.lock:
                    self.ledger.sent.add(entry.change.uuid)
            answer = self.post(token, [entry.wire() for entry in batch])
            body = answer.json() if answer is not None else None
            if answer is None or answer.status != 200 or not isinstance(body, dict):
                return "offline" if answer is None else f"http {answer.status}"
            self._settle(batch, body.get("receipts") or [], body.get("errors") or [])
        return "ok"

    def _settle(
        self, batch: list[Entry], receipts: list[dict[str, Any]], errors: list[dict[str, Any]]
    ) -> None:
        by_uuid = {entry.change.uuid: entry for entry in batch}
        for receipt in receipts:
            entry = by_uuid.get(receipt.get("uuid"))
            if entry is None:
                continue
            with self.ledger.lock:
                self.ledger.receipts.setdefault(entry.change.uuid, []).append(receipt)
            self.outbox.remove(entry)
            self.history.append(entry.wire())
            item = (entry.change.assessment_id, entry.change.item_key)
            version = receipt.get("version")
            if isinstance(version, int):
                self.versions[item] = max(self.versions.get(item, 0), version)
            if receipt.get("outcome") not in ("applied", "conflict"):
                continue
            for later in self.outbox:
                same = (later.change.assessment_id, later.change.item_key) == item
                if same and later.base_version == entry.base_version:
                    later.base_version = version
        for error in errors:
            entry = by_uuid.get(error.get("uuid"))
            if entry is None:
                continue
            entry.error = error
            with self.ledger.lock:
                self.ledger.errors.setdefault(entry.change.uuid, []).append(error)

    # --- misbehaviour the server must absorb ------------------------------------------

    def replay(self, count: int = 10) -> None:
        """Send again changes already acknowledged, unchanged: the same receipts must come."""
        if not self.history:
            return
        token = self._token()
        if token is None:
            return
        chosen = self.rng.sample(self.history, min(count, len(self.history)))
        answer = self.post(token, chosen)
        body = answer.json() if answer is not None else None
        if answer is None or answer.status != 200 or not isinstance(body, dict):
            return
        with self.ledger.lock:
            for receipt in body.get("receipts") or []:
                self.ledger.replays += 1
                first = self.ledger.receipts.get(receipt.get("uuid"), [None])[0]
                if first != receipt:
                    self.ledger.replay_mismatches.append(str(receipt.get("uuid")))
            for error in body.get("errors") or []:
                self.ledger.replays += 1
                self.ledger.replay_mismatches.append(str(error.get("uuid")))

    def reuse(self, levels: list[str]) -> None:
        """The same UUID with another value: it must be refused (422 uuid_reused)."""
        if not self.history:
            return
        token = self._token()
        if token is None:
            return
        original = self.rng.choice(self.history)
        forged = dict(
            original, value=self.rng.choice([v for v in levels if v != original["value"]])
        )
        answer = self.post(token, [forged])
        body = answer.json() if answer is not None else None
        if answer is None or answer.status != 200 or not isinstance(body, dict):
            return
        with self.ledger.lock:
            self.ledger.reuses += 1
            errors = body.get("errors") or []
            if errors and errors[0].get("error") == "uuid_reused":
                self.ledger.reuse_refused += 1
            else:
                self.ledger.reuse_taken.append(forged["uuid"])


# --- live listeners --------------------------------------------------------------------------


class Listener(threading.Thread):
    """An open assessment page's live stream, as htmx's SSE extension keeps it: reconnects
    after the server's `retry` delay when the stream breaks, and re-fetches the page after a
    reconnection or a `refresh` event (what the page does to catch up)."""

    def __init__(self, base: str, email: str, assessment_id: int, portfolio_id: int) -> None:
        super().__init__(daemon=True, name=f"listener-{assessment_id}")
        self.base = base
        self.email = email
        self.assessment_id = assessment_id
        self.portfolio_id = portfolio_id
        self.http = Http(base, timeout=30)
        self.stop = threading.Event()
        self.connects = 0
        self.breaks = 0
        self.refreshes = 0
        self.refresh_reasons: dict[str, int] = {}  # the `refresh` events' data: why
        self.fragments = 0
        self.last_line = time.monotonic()
        self.seen: list[tuple[float, str]] = []  # (when, HTML: fragments and fetched pages)
        self.lock = threading.Lock()
        self.retry = 1.0

    def _remember(self, html: str) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), html))
            del self.seen[:-200]

    def _fetch_page(self) -> None:
        try:
            answer = self.http.request("GET", f"/portfolios/{self.portfolio_id}/bilan")
        except (OSError, http.client.HTTPException):
            return
        if answer.status == 200:
            self._remember(answer.body.decode(errors="replace"))

    def has_seen(self, text: str, since: float) -> bool:
        with self.lock:
            return any(when >= since and text in html for when, html in self.seen)

    def run(self) -> None:
        self.http.login(self.email)
        while not self.stop.is_set():
            with contextlib.suppress(OSError, http.client.HTTPException, EOFError):
                self._stream()
            if self.stop.is_set():
                return
            self.breaks += 1
            self.stop.wait(self.retry)

    def _stream(self) -> None:
        connection = http.client.HTTPConnection(self.http.host, self.http.port, timeout=25)
        try:
            cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
            connection.request(
                "GET",
                f"/events/bilans/{self.assessment_id}",
                headers={"Cookie": cookie, "Accept": "text/event-stream"},
            )
            response = connection.getresponse()
            if response.status != 200:
                raise EOFError(f"stream answered {response.status}")
            self.connects += 1
            if self.connects > 1:
                self._fetch_page()  # reconnected: the page re-fetches what it may have missed
            name, data = "", []
            while not self.stop.is_set():
                raw = response.readline()
                if not raw:
                    raise EOFError("stream closed")
                self.last_line = time.monotonic()
                line = raw.decode(errors="replace").rstrip("\n")
                if line.startswith("retry:"):
                    self.retry = min(int(line.split(":", 1)[1]) / 1000, 3.0)
                    continue
                if line.startswith(":"):
                    continue
                if line == "":
                    if name == "refresh":
                        self.refreshes += 1
                        reason = "\n".join(data)[:40]
                        self.refresh_reasons[reason] = self.refresh_reasons.get(reason, 0) + 1
                        self._fetch_page()
                    elif name:
                        self.fragments += 1
                        self._remember("\n".join(data))
                    name, data = "", []
                    continue
                key, _, value = line.partition(": ")
                if key == "event":
                    name = value
                elif key == "data":
                    data.append(value)
        finally:
            connection.close()
