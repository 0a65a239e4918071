"""Offline sync (SPEC F7): apply a batch of changes made on a device, each under the UUID the
device gave it, and answer one receipt per change the server has taken.

Change types
------------
- "assessment_item": one item of an assessment (a rating, the stars, the meeting date, the
  comment), applied through `assessments.record_change` — so the per-item conflict rule of
  SPEC F7 lives in one place. A change to a completed assessment is not applied but kept in
  the item's history as "rejected" (nothing a device sends is silently lost), and answered
  with a receipt saying so.
- "sheet": the learner's whole-field values of some fields of an activity sheet, applied
  through `sheets.save_sheet`. Its base is the sheet's `learner_updated_at` the device saw.
  When the sheet changed since, the later device time wins; the text that loses is written
  to the audit log (action "sheet.sync_superseded" / "sheet.sync_replaced").

Idempotency
-----------
Every change taken gets a `SyncReceipt` row (primary key: the UUID) holding a hash of its
payload and the receipt answered. The row is inserted in the savepoint that applies the
change, as its last write (the receipt is known by then: one INSERT), so two requests
carrying the same UUID at the same moment serialise on that key: one applies the change, the
other gets the first one's receipt (PostgreSQL makes the second INSERT wait for the first
transaction, then fail, which rolls back the savepoint and with it the second application;
SQLite runs writers one at a time). Assessment items serialise even earlier: a batch locks
its items up front (`assessments.prepare_changes`) and only then reads the stored receipts.
A replay with the same payload returns the stored receipt unchanged; the same UUID with
another payload (or from another user) is refused (422, "uuid_reused"). The base version is
not part of the payload: a device may re-base a change it could not send before.

Services flush, never commit: the route commits once and then publishes `events`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app import access
from app.errors import AssessmentCompleted, DomainError, NotAllowed, NotFound
from app.extensions import db
from app.models import (
    Assessment,
    AssessmentItem,
    AssessmentItemChange,
    SyncReceipt,
    User,
)
from app.models.base import utcnow
from app.services import assessments, audit, sheets

MAX_CHANGES = 200
TYPES = ("assessment_item", "sheet")
SHEET_FIELDS = ("title", "company", "conditions", "activity_id", "description", "analysis")
MAX_KEY = 40
MAX_VALUE = 100_000  # above any field's limit: the services give the precise message
ERROR_CODES = {
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "invalid",
}


class ChangeRefused(Exception):
    """A change the server will not take: answered as a per-change error, never a receipt."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Change:
    """One change as the device sent it, checked for shape (not yet for meaning)."""

    uuid: str
    type: str
    device_time: datetime  # aware, UTC; never later than when the server received it
    sent_device_time: datetime  # as sent (UTC), part of the payload's identity
    assessment_id: int | None = None
    item_key: str | None = None
    value: str | None = None
    base_version: int | None = None
    sheet_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    base_updated_at: datetime | None = None

    def payload_hash(self, user: User) -> str:
        """What identifies the change: who, what, which value, when on the device."""
        identity = {
            "user": user.id,
            "type": self.type,
            "device_time": self.sent_device_time.isoformat(),
        }
        if self.type == "assessment_item":
            identity |= {"assessment": self.assessment_id, "key": self.item_key}
            identity["value"] = self.value
        else:
            identity |= {"sheet": self.sheet_id, "fields": self.fields}
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class BatchResult:
    """Receipts (changes taken, in request order), errors (changes refused, with the index
    and UUID they came with) and the live events to publish once committed."""

    receipts: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


# --- reading what the device sent -----------------------------------------------------------


def _refuse(message: str, code: str = "invalid") -> ChangeRefused:
    return ChangeRefused(422, code, message)


def _int(raw: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = raw.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**31:
        raise _refuse(f"« {name} » doit être un entier positif.")
    return value


def _moment(raw: Any, name: str) -> datetime:
    if not isinstance(raw, str) or len(raw) > 40:
        raise _refuse(f"« {name} » doit être une date ISO 8601 avec son fuseau horaire.")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _refuse(f"« {name} » n'est pas une date ISO 8601 valide.") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _refuse(f"« {name} » doit indiquer son fuseau horaire (par exemple +02:00).")
    if not 2000 <= moment.year <= 2100:
        raise _refuse(f"« {name} » est hors des dates possibles.")
    return moment.astimezone(UTC)


def parse_change(raw: Any, now: datetime) -> Change:
    """Check the shape of one change; raises ChangeRefused (422) naming the faulty field."""
    if not isinstance(raw, dict):
        raise _refuse("Chaque modification doit être un objet JSON.")
    try:
        change_uuid = str(uuid.UUID(str(raw.get("uuid"))))
    except ValueError:
        raise _refuse("« uuid » doit être un UUID.") from None
    kind = raw.get("type")
    if kind not in TYPES:
        raise _refuse(f"« type » doit valoir {' ou '.join(TYPES)}.")
    sent = _moment(raw.get("device_time"), "device_time")
    # A change cannot have been made after the server received it: a device whose clock runs
    # ahead must not win every conflict.
    effective = min(sent, now)
    if kind == "assessment_item":
        key = raw.get("item_key")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise _refuse("« item_key » doit nommer un élément du bilan.")
        value = raw.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE):
            raise _refuse("« value » doit être un texte ou null.")
        return Change(
            uuid=change_uuid,
            type=kind,
            device_time=effective,
            sent_device_time=sent,
            assessment_id=_int(raw, "assessment_id"),
            item_key=key,
            value=value,
            base_version=_int(raw, "base_version", required=False),
        )
    fields = raw.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _refuse("« fields » doit contenir au moins un champ de la fiche.")
    unknown = sorted(set(fields) - set(SHEET_FIELDS))
    if unknown:
        raise _refuse(f"Champ de fiche inconnu : {unknown[0][:40]}.")
    for name, value in fields.items():
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            continue
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise _refuse(f"Le champ « {name} » doit être du texte.")
    base = raw.get("base_updated_at")
    return Change(
        uuid=change_uuid,
        type=kind,
        device_time=effective,
        sent_device_time=sent,
        sheet_id=_int(raw, "sheet_id"),
        fields=dict(fields),
        base_updated_at=None if base in (None, "") else _moment(base, "base_updated_at"),
    )


# --- the batch ------------------------------------------------------------------------------


@dataclass
class _Batch:
    """What the batch's changes need, read before the first one is applied: the receipts
    already stored under their UUIDs, and the assessments, items, references and locks of
    their assessment items (`assessments.prepare_changes`). Each change then only writes."""

    receipts: dict[str, SyncReceipt]
    context: assessments.RecordContext


def apply_batch(user: User, changes: list[Any], *, now: datetime | None = None) -> BatchResult:
    """Apply each change in order, each in its own savepoint: a refused change leaves the
    others applied. Returns the receipts, the per-change errors and the events to publish."""
    now = now or utcnow()
    result = BatchResult()
    parsed: list[Change | ChangeRefused] = []
    for raw in changes:
        try:
            parsed.append(parse_change(raw, now))
        except ChangeRefused as refused:
            parsed.append(refused)
    batch = _prepare(user, [change for change in parsed if isinstance(change, Change)])
    if _apply_together(user, parsed, batch, result):
        return result
    for index, (raw, change) in enumerate(zip(changes, parsed, strict=True)):
        try:
            if isinstance(change, ChangeRefused):
                raise change
            receipt, events = _take(user, change, batch)
        except ChangeRefused as refused:
            sent_uuid = raw.get("uuid") if isinstance(raw, dict) else None
            result.errors.append(
                {
                    "index": index,
                    "uuid": sent_uuid if isinstance(sent_uuid, str) else None,
                    "status": refused.status,
                    "error": refused.code,
                    "message": refused.message,
                }
            )
            continue
        result.receipts.append(receipt)
        result.events.extend(events)
    return result


Events = list[tuple[str, str, dict[str, Any]]]


def _prepare(user: User, changes: list[Change]) -> _Batch:
    context = assessments.prepare_changes(
        user,
        [
            (int(change.assessment_id or 0), str(change.item_key), change.uuid)
            for change in changes
            if change.type == "assessment_item"
        ],
    )
    batch = _Batch(receipts={}, context=context)
    if changes:
        # Read once the items are locked: a concurrent request that held them with the same
        # changes has committed by now, and its receipts are found here.
        stored = db.session.scalars(
            select(SyncReceipt)
            .where(SyncReceipt.change_uuid.in_(sorted({change.uuid for change in changes})))
            .execution_options(populate_existing=True)
        )
        batch.receipts = {row.change_uuid: row for row in stored}
    return batch


def _apply_together(
    user: User, parsed: list[Change | ChangeRefused], batch: _Batch, result: BatchResult
) -> bool:
    """The usual batch (assessment-item changes only, all well-formed, to distinct items,
    none seen before) applied in one savepoint: its items, history rows and receipts are
    written in a few multi-row statements (`assessments.write_deferred`, one INSERT of the
    receipts), the same on SQLite and PostgreSQL, instead of three statements and two
    savepoints per change. Any refusal or conflict (a change the server refuses, a UUID
    taken meanwhile) rolls the whole savepoint back and returns False: the caller then
    applies the changes one by one, each in its own savepoint, which gives every change its
    own answer. Returns True when the batch is applied and `result` filled."""
    changes = [change for change in parsed if isinstance(change, Change)]
    if (
        len(changes) < 2
        or len(changes) != len(parsed)
        or any(change.type != "assessment_item" for change in changes)
        or len({change.uuid for change in changes}) != len(changes)
        or len({(change.assessment_id, change.item_key) for change in changes}) != len(changes)
        or any(change.uuid in batch.receipts for change in changes)
    ):
        return False
    receipts: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    events: Events = []
    now = utcnow()
    savepoint = db.session.begin_nested()
    batch.context.deferred = True
    try:
        for change in changes:
            receipt, change_events = _apply_item(user, change, batch.context)
            rows.append(
                {
                    "change_uuid": change.uuid,
                    "user_id": user.id,
                    "payload_hash": change.payload_hash(user),
                    "receipt": receipt,
                    "created_at": now,
                }
            )
            receipts.append(receipt)
            events.extend(change_events)
        assessments.write_deferred(batch.context)
        db.session.execute(insert(SyncReceipt.__table__), rows)
    except (IntegrityError, DomainError):
        savepoint.rollback()
        return False
    finally:
        batch.context.deferred = False
        batch.context.new_items, batch.context.pending = [], []
    savepoint.commit()
    result.receipts.extend(receipts)
    result.events.extend(events)
    return True


def _stored(change_uuid: str) -> SyncReceipt | None:
    return db.session.scalar(
        select(SyncReceipt)
        .where(SyncReceipt.change_uuid == change_uuid)
        .execution_options(populate_existing=True)
    )


def _replay(stored: SyncReceipt, change: Change, user: User) -> tuple[dict[str, Any], Events]:
    if stored.payload_hash != change.payload_hash(user) or stored.user_id != user.id:
        raise _refuse(
            "Cet identifiant de modification a déjà servi pour une autre modification.",
            "uuid_reused",
        )
    return dict(stored.receipt), []


def _take(user: User, change: Change, batch: _Batch) -> tuple[dict[str, Any], Events]:
    stored = batch.receipts.get(change.uuid)
    if stored is not None:
        return _replay(stored, change, user)
    try:
        with db.session.begin_nested():
            if change.type == "assessment_item":
                receipt, events = _apply_item(user, change, batch.context)
            else:
                receipt, events = _apply_sheet(user, change)
            # The UUID is taken in the savepoint that applied the change (one INSERT, the
            # receipt being known by now): if it was taken meanwhile, the whole is undone.
            row = SyncReceipt(
                change_uuid=change.uuid,
                user_id=user.id,
                payload_hash=change.payload_hash(user),
                receipt=receipt,
            )
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        # The same UUID was taken meanwhile (a concurrent request): answer its receipt.
        stored = _stored(change.uuid)
        if stored is None:
            raise ChangeRefused(
                409, "retry", "Modification en cours d'enregistrement : réessayez."
            ) from None
        batch.receipts[change.uuid] = stored
        return _replay(stored, change, user)
    except DomainError as error:
        raise ChangeRefused(
            error.status, ERROR_CODES.get(error.status, "refused"), error.message
        ) from None
    batch.receipts[change.uuid] = row  # the same UUID later in the batch is a replay
    return receipt, events


# --- assessment items -----------------------------------------------------------------------


def _apply_item(
    user: User, change: Change, context: assessments.RecordContext
) -> tuple[dict[str, Any], Events]:
    assessment = context.assessments.get(int(change.assessment_id or 0))
    if assessment is None:
        raise NotFound("Ce bilan n'existe pas ou n'est pas accessible.")
    key = str(change.item_key)
    try:
        result = assessments.record_change(
            assessment,
            user,
            key,
            change.value,
            device_time=change.device_time,
            change_uuid=change.uuid,
            base_version=change.base_version,
            via_sync=True,
            context=context,
        )
    except AssessmentCompleted as completed:
        rejected = _record_rejected(assessment, user, change, context)
        receipt = _item_receipt(
            change, assessment, rejected.item, "rejected",
            rejected.resulting_version, rejected.server_time,
        )  # fmt: skip
        receipt["message"] = completed.message
        return receipt, []
    if result.duplicate:
        assert result.change is not None
        item_change = result.change
        receipt = _item_receipt(
            change, assessment, item_change.item, item_change.outcome,
            item_change.resulting_version, item_change.server_time,
        )  # fmt: skip
    else:
        receipt = _item_receipt(
            change, assessment, result.item, result.outcome,
            result.row["resulting_version"], result.row["server_time"],
        )  # fmt: skip
    event = (f"assessment:{assessment.id}", "item_saved", {"item_key": key, "author_id": user.id})
    return receipt, [] if result.duplicate else [event]


def _item_receipt(
    change: Change,
    assessment: Assessment,
    item: AssessmentItem,
    outcome: str,
    version: int,
    server_time: datetime,
) -> dict[str, Any]:
    return {
        "uuid": change.uuid,
        "type": "assessment_item",
        "assessment_id": assessment.id,
        "item_key": change.item_key,
        "outcome": outcome,
        "version": version,
        "conflict": bool(item.conflict),
        "server_time": server_time.isoformat(),
    }


def _record_rejected(
    assessment: Assessment, user: User, change: Change, context: assessments.RecordContext
) -> AssessmentItemChange:
    """A change that reached a completed assessment: not applied, but written to the item's
    history (outcome "rejected") so the teacher sees it and can reopen the assessment."""
    key = str(change.item_key)
    kind, ref_id = assessments.parse_key(key)
    item = context.item_for_update(assessment, key, kind, ref_id)
    now = utcnow()
    rejected = AssessmentItemChange(
        item_id=item.id,
        change_uuid=change.uuid,
        value=change.value or None,
        previous_value=item.value,
        base_version=change.base_version,
        resulting_version=item.version,
        outcome="rejected",
        author_id=user.id,
        author_role="teacher" if access.is_teacher(user) else "tutor",
        device_time=change.device_time,
        server_time=now,
        via_sync=True,
    )
    rejected.item = item
    db.session.add(rejected)
    db.session.flush()
    context.changes[change.uuid] = rejected
    return rejected


# --- activity sheets ------------------------------------------------------------------------


def _apply_sheet(user: User, change: Change) -> tuple[dict[str, Any], Events]:
    sheet = sheets.load_sheet(int(change.sheet_id or 0))
    if sheet is None or not access.can_view_sheet(user, sheet):
        raise NotFound("Cette fiche n'existe pas ou n'est pas accessible.")
    if not access.can_write_sheet(user, sheet):
        raise NotAllowed("Seul l'apprenant peut modifier sa fiche.")
    clean = sheets.clean_changes(sheet, change.fields)
    differs = {name: value for name, value in clean.items() if getattr(sheet, name) != value}
    current = sheet.learner_updated_at
    stale = current is not None and (
        change.base_updated_at is None or change.base_updated_at < current
    )
    outcome = "applied"
    events: Events = []
    if differs and stale and current is not None and change.device_time < current:
        # Written later on another device: that text stays; this one goes to the audit log.
        outcome = "superseded"
        audit.record(
            user, "sheet.sync_superseded", "activity_sheet", sheet.id,
            learner_id=sheet.learner_id, change_uuid=change.uuid,
            device_time=change.device_time.isoformat(), fields=differs,
        )  # fmt: skip
    elif differs:
        if stale:
            outcome = "conflict"
            audit.record(
                user, "sheet.sync_replaced", "activity_sheet", sheet.id,
                learner_id=sheet.learner_id, change_uuid=change.uuid,
                replaced={name: getattr(sheet, name) for name in differs},
            )  # fmt: skip
        sheets.save_sheet(sheet, user, differs)
        if sheet.portfolio is not None:
            events.append(
                (
                    f"period:{sheet.portfolio.period_id}",
                    "sheet_saved",
                    {"portfolio_id": sheet.portfolio_id, "sheet_id": sheet.id},
                )
            )
    updated = sheet.learner_updated_at
    receipt = {
        "uuid": change.uuid,
        "type": "sheet",
        "sheet_id": sheet.id,
        "outcome": outcome,
        "updated_at": updated.isoformat() if updated else None,
        "server_time": utcnow().isoformat(),
    }
    return receipt, events
