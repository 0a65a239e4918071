"""Stored and reflected XSS: no user-written text ever comes back as markup.

Stored: every String/Text column of every table is overwritten, for every row of the
database, with a payload (columns that hold codes the app interprets are listed in
TECHNICAL with the reason), after adding the rows the world lacks (an annex, attachments, a
journal day, an assessment comment with its history, an interim review, an audit entry, free
and complementary sheets). Then every GET case of the access matrix is requested by every
role, as a page and as an htmx fragment, and no HTML answer may contain the payload
unescaped. The sweep also checks that escaped payloads do appear, so it cannot pass by
looking at pages that show nothing.

Reflected: the payload in query strings of every page, and in every text field of every form
a user may post, never comes back unescaped.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, Enum, String, cast, literal, select, update
from sqlalchemy.sql.schema import Column, Table
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import (
    ActivitySheet,
    AssessmentItem,
    AssessmentItemChange,
    Attachment,
    AuditLog,
    Competency,
    InterimReview,
    InterimReviewPosition,
    JournalEntry,
    PedagogicalAnnex,
    SheetKind,
)
from app.models.base import utcnow
from tests.access import ROLES
from tests.security import (
    UNSAFE,
    all_cases,
    allowed_roles,
    case_id,
    client_for,
    fresh_session,
    is_stream_or_file,
    resendable,
)
from tests.security.test_headers import GET_CASES, JAVASCRIPT_URL, sweep

PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
SHORT = "<xss>"  # for columns too short for PAYLOAD
URL_PAYLOAD = "javascript:alert(1)//" + PAYLOAD
RAW_MARKERS = ("<script>alert(1)", "<img src=x onerror", "<xss>")
ESCAPED_MARKERS = ("&lt;script&gt;alert(1)", "&lt;xss&gt;")
QUERY_PARAMETERS = ("q", "next", "tab", "page", "sort", "filter", "client", "level_id", "error")

# Columns that hold values the app interprets rather than shows as typed: enums guarded by
# check constraints, secrets and file names, keys. Users cannot type into them.
TECHNICAL_COLUMNS = {
    "role": "single-table inheritance discriminator",
    "kind": "enum (check constraint)",
    "status": "enum (check constraint)",
    "mode": "enum (check constraint)",
    "conditions": "enum (check constraint)",
    "learner_status": "enum (check constraint)",
    "tutor_kind": "enum",
    "author_role": "enum (check constraint)",
    "outcome": "enum (check constraint)",
    "protocol": "enum (check constraint): oidc or cas",
    "password_hash": "argon2 hash",
    "token_hash": "sha256 of an invitation token",
    "payload_hash": "sha256 of a sync payload",
    "change_uuid": "client-generated UUID",
    "stored_name": "random hex file name (checked against a pattern)",
    "logo_file": "stored file name under UPLOAD_DIR",
    "stamp_file": "stored file name under UPLOAD_DIR",
    "content_type": "set by the server from the file's content",
    "item_key": "assessment item key (criterion:<id>...)",
    "object_type": "audit log object kind, set by the code",
}
TECHNICAL = {
    "login_attempts.key": "throttling key, never shown",
    "scale_levels.code": "rating value stored in assessment items",
    "scale_levels.color": "colour token of the rating scale, from the shipped frameworks",
    "frameworks.completeness": "enum of the framework importer",
    # Values of items and their history: only the comment item holds free text (poisoned
    # below); the others are rating codes, star counts and ISO dates.
    "assessment_items.value": "see _poison_comments",
    "assessment_items.conflict_value": "see _poison_comments",
    "assessment_item_changes.value": "see _poison_comments",
    "assessment_item_changes.previous_value": "see _poison_comments",
    "interim_review_positions.value": "rating code",
    "conventions.state": "enum (check constraint) of the signature steps",
}


def _is_technical(table: Table, column: Column[Any]) -> bool:
    return column.name in TECHNICAL_COLUMNS or f"{table.name}.{column.name}" in TECHNICAL


def _unique(table: Table, column: Column[Any]) -> bool:
    if column.unique or column.primary_key:
        return True
    constraints = [c for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
    indexes = [i for i in table.indexes if i.unique]
    return any(column.name in [c.name for c in group.columns] for group in (*constraints, *indexes))


def poison_every_text_column() -> list[str]:
    """Overwrite every user-visible text column of every row with the payload; returns the
    columns poisoned."""
    poisoned = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, String) or isinstance(column.type, Enum):
                continue
            if _is_technical(table, column) or column.primary_key:
                continue
            length = column.type.length
            unique = _unique(table, column)
            text = PAYLOAD if length is None or length >= len(PAYLOAD) + 12 else SHORT
            if column.name == "url":
                text = URL_PAYLOAD
            if unique:
                assert "id" in table.c, f"{table.name}.{column.name}: unique text without an id"
                value: Any = literal(text) + cast(table.c.id, String)
            else:
                value = text
            db.session.execute(update(table).values({column.name: value}))
            poisoned.append(f"{table.name}.{column.name}")
    _poison_comments()
    _poison_json()
    db.session.expire_all()
    return poisoned


def _poison_comments() -> None:
    comment_items = select(AssessmentItem.id).where(AssessmentItem.kind == "comment")
    db.session.execute(
        update(AssessmentItem)
        .where(AssessmentItem.kind == "comment")
        .values(value=PAYLOAD, conflict_value=PAYLOAD)
    )
    db.session.execute(
        update(AssessmentItemChange)
        .where(AssessmentItemChange.item_id.in_(comment_items))
        .values(value=PAYLOAD, previous_value=PAYLOAD)
    )


def _poison_json() -> None:
    """Free-form JSON shown to people: the audit log's details."""
    for entry in db.session.scalars(select(AuditLog)):
        details = dict.fromkeys(entry.details or {}, PAYLOAD)
        details["note"] = PAYLOAD
        entry.details = details
    db.session.flush()
    assert any(isinstance(c.type, JSON) for c in AuditLog.__table__.columns)


def add_missing_rows(world: Any, f: Any) -> None:
    """Rows of every model the pages may show, which f.world() does not create."""
    s = db.session
    annex = PedagogicalAnnex(level_id=world.level.id, name="Annexe", created_by_id=world.teacher.id)
    s.add(annex)
    s.flush()
    world.period.annex_id = annex.id
    f.written(world.sheet, "Texte")
    world.sheet.analysis = "Analyse"
    world.sheet.company = "Entreprise"
    s.add_all(
        [
            Attachment(
                sheet_id=world.sheet.id,
                kind="file",
                original_name="photo.jpg",
                stored_name=secrets.token_hex(16),
                content_type="image/jpeg",
                size=10,
            ),
            Attachment(
                sheet_id=world.sheet.id,
                kind="url",
                url="https://example.org/",
                original_name="Lien",
            ),
        ]
    )
    journal_day = world.period.start_date + timedelta(days=1)
    if not any(entry.entry_date == journal_day for entry in world.portfolio.journal_entries):
        s.add(
            JournalEntry(
                portfolio_id=world.portfolio.id,
                entry_date=journal_day,
                hours=Decimal(7),
                description="Journée",
            )
        )
    s.flush()
    _add_comment(world)
    review = InterimReview(
        learner_id=world.learner.id,
        teacher_id=world.teacher.id,
        review_date=world.period.start_date + timedelta(days=30),
        comment="Progrès",
    )
    s.add(review)
    s.flush()
    competency = s.scalar(
        select(Competency).where(Competency.framework_id == world.level.framework_id).limit(1)
    )
    if competency is not None:
        s.add(
            InterimReviewPosition(review_id=review.id, competency_id=competency.id, comment="Bien")
        )
    s.add(
        AuditLog(
            actor_id=world.teacher.id,
            actor_label="Prof",
            action="assessment.item_changed",
            object_type="assessment",
            object_id=world.assessment.id,
            learner_id=world.learner.id,
            details={"item": "comment", "old": "", "new": "Bien"},
        )
    )
    f.free_sheet(world.learner, description="Libre")
    s.add(
        ActivitySheet(
            learner_id=world.learner.id,
            portfolio_id=world.portfolio.id,
            kind=SheetKind.COMPLEMENTARY,
            position=99,
            title="Complémentaire",
        )
    )
    s.flush()


def _add_comment(world: Any) -> None:
    """An assessment comment with its history (unless a case's setup wrote one)."""
    s = db.session
    if any(item.item_key == "comment" for item in world.assessment.items):
        return
    item = AssessmentItem(
        assessment_id=world.assessment.id,
        item_key="comment",
        kind="comment",
        value="Bien",
        version=1,
        author_id=world.teacher.id,
        author_role="teacher",
        server_time=utcnow(),
    )
    s.add(item)
    s.flush()
    s.add(
        AssessmentItemChange(
            item_id=item.id,
            change_uuid=str(uuid.uuid4()),
            value="Bien",
            previous_value="",
            resulting_version=1,
            author_id=world.teacher.id,
            author_role="teacher",
        )
    )


def poison_worlds(worlds: list[Any], f: Any) -> None:
    for world in worlds:
        add_missing_rows(world, f)
    poison_every_text_column()


def unescaped(body: str) -> list[str]:
    found = [marker for marker in RAW_MARKERS if marker in body]
    if match := JAVASCRIPT_URL.search(body):
        found.append(match.group(0))
    return found


@pytest.mark.parametrize("role", ROLES)
def test_stored_payloads_come_back_escaped_on_every_page_and_fragment(
    role: str, app: Flask, f: Any, login_as: Callable[[Any], FlaskClient]
) -> None:
    escaped_pages: list[str] = []

    def check(url: str, response: TestResponse) -> list[str]:
        if response.mimetype != "text/html":
            return []
        body = response.get_data(as_text=True)
        if any(marker in body for marker in ESCAPED_MARKERS):
            escaped_pages.append(url)
        return [f"unescaped {found!r}" for found in unescaped(body)]

    failures, seen = sweep(
        app, f, login_as, role, check, skip_streams_and_files=True, prepare=poison_worlds
    )
    assert seen > 0
    assert not failures, "\n".join(failures)
    if role != "anonymous":
        # The poisoned data did reach this role's pages: the check above had something to see.
        assert escaped_pages, f"no page showed {role} any poisoned text"


def test_every_user_visible_text_column_is_poisoned(db: Any) -> None:
    """New text columns are poisoned automatically; this lists the ones that must be."""
    poisoned = set(poison_every_text_column())
    for column in (
        "users.first_name",
        "users.last_name",
        "users.email",
        "users.company_name",
        "users.job_title",
        "schools.name",
        "levels.name",
        "class_groups.name",
        "periods.name",
        "periods.objectives",
        "periods.activities",
        "pedagogical_annexes.name",
        "pedagogical_annexes.objectives",
        "liaison_sheets.company_name",
        "liaison_sheets.company_address",
        "liaison_sheets.tutor_name",
        "liaison_sheets.objectives",
        "activity_sheets.title",
        "activity_sheets.company",
        "activity_sheets.description",
        "activity_sheets.analysis",
        "attachments.original_name",
        "attachments.url",
        "journal_entries.description",
        "interim_reviews.comment",
        "audit_log.actor_label",
        "tasks.title",
        "competencies.title",
        "criteria.title",
    ):
        assert column in poisoned, column


@pytest.mark.parametrize("role", ROLES)
def test_query_string_payloads_are_not_reflected(
    role: str, app: Flask, f: Any, login_as: Callable[[Any], FlaskClient]
) -> None:
    from urllib.parse import urlencode

    query = urlencode({name: PAYLOAD for name in QUERY_PARAMETERS})
    world = f.world()
    client = client_for(app, login_as, world, role)
    urls = [
        case.url(world)
        for case in GET_CASES
        if case.setup is None and not is_stream_or_file(case, case.url(world))
    ]
    failures = []
    for url in urls:
        url += ("&" if "?" in url else "?") + query
        for headers in ({}, {"HX-Request": "true"}):
            fresh_session()
            response = client.get(url, headers=headers)
            body = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
            response.close()  # a streamed download is not read to its end
            if response.status_code >= 500:
                failures.append(f"GET {url} → {response.status_code}")
            if found := unescaped(body):
                failures.append(f"GET {url} {headers}: {found}")
            location = response.headers.get("Location", "") + response.headers.get(
                "HX-Redirect", ""
            )
            if location.startswith(("javascript:", "//")) or "://" in location.split("?")[0]:
                failures.append(f"GET {url}: redirects off-site to {location[:80]}")
    assert not failures, "\n".join(failures)


POST_PAIRS = [
    (case, allowed_roles(case)[0])
    for case in all_cases()
    if case.method in UNSAFE and case.data is not None and allowed_roles(case)
]


def _poison_form(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (URL_PAYLOAD if "url" in key.lower() or "lien" in key.lower() else PAYLOAD)
        if isinstance(value, str)
        else value
        for key, value in data.items()
    }


@pytest.mark.parametrize(
    ("case", "role"), POST_PAIRS, ids=[f"{case_id(c)} as {r}" for c, r in POST_PAIRS]
)
def test_form_payloads_come_back_escaped(
    case: Any, role: str, app: Flask, f: Any, login_as: Callable[[Any], FlaskClient]
) -> None:
    """A form re-rendered with the user's input (422), or the page it leads to, shows the
    text, never the markup."""
    world = f.world()
    if case.setup:
        case.setup(world, f)
    client = client_for(app, login_as, world, role)
    data = resendable(_poison_form(case.data(world)))
    url = case.url(world)
    for headers in ({}, {"HX-Request": "true"}):
        fresh_session()
        kwargs = {"json": data()} if case.json else {"data": data()}
        response = client.open(url, method=case.method, headers=headers, **kwargs)
        body = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        response.close()
        assert response.status_code < 500, f"{case.method} {url} → {response.status_code}"
        assert not unescaped(body), (case.method, url, headers)
        target = response.headers.get("HX-Redirect") or response.headers.get("Location")
        if target and target.startswith("/"):
            fresh_session()
            page = client.get(target)
            if page.mimetype == "text/html":
                assert not unescaped(page.get_data(as_text=True)), ("after", target)
