"""Turns a live event into the HTML one listening user should receive (SPEC F8).

A stream belongs to one signed-in user. For every event it reloads that user, re-checks their
access to the period or assessment (rights may have changed since the stream opened) and
renders the same partial template the page includes, with the user's own data (e.g. their
own read state of the sheets). Nothing is rendered for a learner the user cannot see.

An event becomes zero or more `Message`s: an SSE event name the page listens to (the
`sse-swap` attribute of the element to replace) and its HTML. `refresh` asks the page to
re-fetch its live container (used after a lost connection or when no finer fragment
applies)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import g, render_template

from app import access
from app.errors import DomainError
from app.extensions import db
from app.models import ActivitySheet, Assessment, Period, User
from app.services import navigation
from app.services.events import RESYNC, Event

REFRESH = "refresh"

# Period-view events that change one learner's folder (count, green titles, badges).
FOLDER_KINDS = frozenset(
    {"sheet_saved", "sheet_created", "sheet_deleted", "sheet_linked", "sheet_read",
     "folder_changed", "assessment_changed"}
)  # fmt: skip


@dataclass(frozen=True)
class Listener:
    """Who is listening on a stream, and from which browser tab.

    `topic` is what the page shows ("period:3", "assessment:8"). An assessment stream also
    hears its period (`related`), because a sheet of its portfolio (`portfolio_id`) that
    changes alters the marks the grid shows."""

    user_id: int
    session_version: int
    topic: str
    client_id: str | None = None
    related: tuple[str, ...] = ()
    portfolio_id: int | None = None

    @property
    def topics(self) -> list[str]:
        return [self.topic, *self.related]


@dataclass(frozen=True)
class Message:
    name: str  # SSE event name
    data: str  # HTML fragment (or a short token for `refresh`)


class AccessEnded(Exception):
    """The listener may no longer follow this topic (signed out, rights withdrawn): the
    stream ends; the browser's reconnection is then refused."""


def is_echo(listener: Listener, event: Event) -> bool:
    """The change came from this very tab, which already shows it (and may be typing).

    When the page sent its tab id, only that tab is skipped (the same user's other tab or
    device still updates); without one, the author's streams are skipped."""
    if event.origin is not None:
        return event.origin == listener.client_id
    author = event.data.get("author_id")
    return author is not None and author == listener.user_id


def coalesce(listener: Listener, batch: list[Event]) -> list[Event]:
    """The events of a burst worth rendering: echoes dropped, and one event per thing that
    changed (a learner's autosave publishes every second while they type; the fragment shows
    the current state anyway, so rendering it once per burst is enough)."""
    kept: dict[tuple[object, ...], Event] = {}
    for event in batch:
        if event.kind == RESYNC:
            return [event]  # everything is re-fetched anyway
        if event.topic not in listener.topics or is_echo(listener, event):
            continue
        key: tuple[object, ...]
        if event.kind in FOLDER_KINDS:
            target = event.data.get("portfolio_id") or event.data.get("sheet_id")
            key = (event.topic, "folder", target)
        elif event.kind == "item_saved":
            key = (event.topic, "item", event.data.get("item_key"))
        else:
            key = (event.topic, event.kind, *sorted(event.data.items()))
        kept.setdefault(key, event)
    return list(kept.values())


# One event reaches every stream of its topic in this process within milliseconds (the broker
# hands them the same Event object): what a user's streams get, and the item's row that every
# user's fragment shows, are computed once per event and reused by that event's other streams
# (bench/results.md: 5 listeners per assessment, 2 users). Keyed by the event's identity, kept
# for the last MEMO_EVENTS events only; a later change is a new event, rendered afresh. Streams
# that ask while the first one is still computing (gevent: it waits on PostgreSQL) wait for
# its answer rather than compute it again beside it.
MEMO_EVENTS = 64
MEMO_WAIT_SECONDS = 10.0  # past this, a waiting stream computes its answer itself
_memo: dict[int, tuple[Event, dict[tuple[object, ...], _Once]]] = {}
_memo_lock = threading.Lock()  # streams on gthread workers (no proxy rule) are threads


class _Once:
    """One computation of an event's memo, and the streams waiting for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ended = False  # it raised AccessEnded
        self.failed = False  # it raised something else: each stream tries on its own
        self.value: Any = None


def _once(event: Event, key: tuple[object, ...], compute: Callable[[], Any]) -> Any:
    with _memo_lock:
        entry = _memo.get(id(event))
        if entry is None or entry[0] is not event:
            while len(_memo) >= MEMO_EVENTS:
                del _memo[next(iter(_memo))]
            entry = (event, {})  # holding the event keeps its id from being reused
            _memo[id(event)] = entry
        once = entry[1].get(key)
        mine = once is None
        if once is None:
            once = entry[1][key] = _Once()
    if not mine:
        if once.done.wait(MEMO_WAIT_SECONDS) and not once.failed:
            if once.ended:
                raise AccessEnded
            return once.value
        return compute()
    try:
        once.value = compute()
    except AccessEnded:
        once.ended = True
        raise
    except BaseException:
        once.failed = True
        raise
    finally:
        once.done.set()
    return once.value


def messages_for(listener: Listener, event: Event) -> list[Message]:
    """The messages this listener gets for this event (possibly none). Raises AccessEnded.

    Runs inside the stream's request context; the caller closes the database session. The
    same user's other streams of the same page (several tabs) reuse the answer for this
    event: rights are re-checked once per user and event, not once per tab."""
    if event.kind == RESYNC:
        return [Message(REFRESH, "resync")]
    if event.topic not in listener.topics or is_echo(listener, event):
        return []
    key = ("messages", listener.user_id, listener.session_version, listener.topic)
    return list(_once(event, key, lambda: tuple(_messages_for(listener, event))))


def _messages_for(listener: Listener, event: Event) -> list[Message]:
    user = db.session.get(User, listener.user_id)
    if user is None or not user.is_active or user.session_version != listener.session_version:
        raise AccessEnded
    _act_as(user)
    area = listener.topic.partition(":")[0]
    if area == "period":
        return _period_messages(user, event)
    if area == "assessment":
        return _assessment_messages(user, listener, event)
    return []


def _act_as(user: User) -> None:
    """Templates and access predicates see this fresh user, not the one that opened the
    stream, and no per-request cache from an earlier event."""
    g._login_user = user
    g.pop("_teacher_levels", None)


# --- period view --------------------------------------------------------------------------


def _period_messages(user: User, event: Event) -> list[Message]:
    period = db.session.get(Period, event.topic_id)
    if period is None or not access.can_view_period(user, period):
        raise AccessEnded
    portfolio_id = event.data.get("portfolio_id")
    sheet_id = event.data.get("sheet_id")
    if portfolio_id is None and isinstance(sheet_id, int):
        sheet = db.session.get(ActivitySheet, sheet_id)
        portfolio_id = sheet.portfolio_id if sheet is not None else None
    if event.kind not in FOLDER_KINDS or not isinstance(portfolio_id, int):
        return [Message(REFRESH, event.kind)]
    # Restricted to this period: an id of another period's portfolio renders nothing.
    folders = navigation.load_period_folders(user, period, only_portfolio=portfolio_id)
    if not folders:
        return [Message(REFRESH, event.kind)]  # the folder left the period
    html = render_template("navigation/_folder.html", folder=folders[0], period=period)
    return [Message(f"folder-{portfolio_id}", html)]


# --- assessment ---------------------------------------------------------------------------

# Sheet changes, heard on the period topic, that alter an open assessment's marks.
MARK_KINDS = frozenset({"sheet_saved", "sheet_created", "sheet_deleted", "sheet_linked"})
PARTS = "parts"  # HTML whose top-level elements replace the page's elements of the same id


def _assessment_messages(user: User, listener: Listener, event: Event) -> list[Message]:
    assessment = db.session.get(Assessment, _topic_id(listener.topic))
    if assessment is None or not access.can_view_assessment(user, assessment):
        raise AccessEnded
    if event.topic != listener.topic:  # the period: did one of this portfolio's sheets change?
        changed = event.data.get("portfolio_id") == assessment.portfolio_id
        return [Message(REFRESH, "marks")] if changed and event.kind in MARK_KINDS else []
    key = event.data.get("item_key")
    if event.kind == "item_saved" and isinstance(key, str):
        return _item_fragment(user, assessment, key, event)
    return [Message(REFRESH, event.kind)]  # marks, mode, status: the page re-fetches itself


def _item_fragment(user: User, assessment: Assessment, key: str, event: Event) -> list[Message]:
    """The rated item as the assessment page's own fragment renders it for this user (with
    their rights: a tutor never sees the teacher's conflict buttons, a read-only viewer gets
    the read-only item). The item's row (plain data, no user in it) is loaded once per event;
    the fragment is rendered once per set of rights."""
    from app.services import assessments

    try:
        row = _once(
            event, ("item_row", assessment.id, key), lambda: assessments.item_row(assessment, key)
        )
    except DomainError:
        return [Message(REFRESH, "item")]
    can_rate = access.can_rate_assessment(user, assessment)
    is_teacher = access.can_complete_assessment(user, assessment)
    html = _once(
        event,
        ("item_html", assessment.id, key, can_rate, is_teacher),
        lambda: render_template(
            "assessments/_item_fragment.html",
            row=row,
            portfolio_id=assessment.portfolio_id,
            can_rate=can_rate,
            is_teacher=is_teacher,
        ),
    )
    return [Message(PARTS, html)]


def _topic_id(topic: str) -> int | None:
    number = topic.partition(":")[2]
    return int(number) if number.isdigit() else None
