"""The sync service (SPEC F7): receipts, replays, UUID reuse, the per-item conflict rule, a
batch with refused changes, completed assessments, access, and learners' sheet drafts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.models import (
    AssessmentItem,
    AssessmentItemChange,
    AuditLog,
    Criterion,
    SyncReceipt,
)
from app.models.base import utcnow
from app.services import assessments
from app.services import sync as svc

T0 = datetime(2026, 6, 20, 9, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def _uuid() -> str:
    return str(uuid.uuid4())


def _keys(f: Any, w: Any, n: int = 5) -> list[str]:
    ids = f.s.scalars(
        select(Criterion.id)
        .where(Criterion.framework_id == w.level.framework_id)
        .order_by(Criterion.id)
        .limit(n)
    ).all()
    return [f"criterion:{i}" for i in ids]


def item_change(w: Any, key: str, value: str | None, **kw: Any) -> dict[str, Any]:
    moment = kw.pop("at", T0)
    change = {
        "uuid": kw.pop("uuid", _uuid()),
        "type": "assessment_item",
        "assessment_id": kw.pop("assessment_id", w.assessment.id),
        "item_key": key,
        "value": value,
        "device_time": moment.astimezone(PARIS).isoformat(),
        "base_version": kw.pop("base_version", 0),
    }
    change.update(kw)
    return change


def sheet_change(w: Any, fields: dict[str, Any], **kw: Any) -> dict[str, Any]:
    change = {
        "uuid": kw.pop("uuid", _uuid()),
        "type": "sheet",
        "sheet_id": kw.pop("sheet_id", w.sheet.id),
        "fields": fields,
        "device_time": kw.pop("at", T0).isoformat(),
        "base_updated_at": kw.pop("base", None),
    }
    change.update(kw)
    return change


def _count(model: Any) -> int:
    from app.extensions import db

    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _item(w: Any, key: str) -> AssessmentItem:
    from app.extensions import db

    item = db.session.scalar(
        select(AssessmentItem).where(
            AssessmentItem.assessment_id == w.assessment.id, AssessmentItem.item_key == key
        )
    )
    assert item is not None
    db.session.refresh(item)
    return item


# --- assessment items -------------------------------------------------------------------------


def test_offline_ratings_land_with_their_uuid_device_time_and_receipts(f: Any) -> None:
    w = f.world()
    keys = _keys(f, w)
    changes = [item_change(w, key, "3", at=T0 + timedelta(minutes=i)) for i, key in enumerate(keys)]
    changes += [
        item_change(w, "engagement", "4"),
        item_change(w, "comment", "Très bon stage, <b>autonome</b>."),
        item_change(w, "meeting_date", "2026-06-26"),
    ]
    result = svc.apply_batch(w.tutor, changes)

    assert result.errors == []
    assert [r["uuid"] for r in result.receipts] == [c["uuid"] for c in changes]
    assert {r["outcome"] for r in result.receipts} == {"applied"}
    assert all(r["version"] == 1 and r["conflict"] is False for r in result.receipts)
    for change in changes:
        row = f.s.scalar(
            select(AssessmentItemChange).where(AssessmentItemChange.change_uuid == change["uuid"])
        )
        assert row is not None and row.via_sync and row.author_id == w.tutor.id
        assert row.author_role == "tutor"
    first = _item(w, keys[0])
    assert first.value == "3" and first.device_time == T0
    assert first.server_time is not None and first.server_time > T0
    assert _item(w, "comment").value == "Très bon stage, <b>autonome</b>."
    assert _count(SyncReceipt) == len(changes)
    # Live updates for the other assessor's open page, published by the route after commit.
    assert (f"assessment:{w.assessment.id}", "item_saved") in {
        (topic, kind) for topic, kind, _data in result.events
    }


def test_replay_returns_the_same_receipt_and_changes_nothing(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    change = item_change(w, key, "2")
    first = svc.apply_batch(w.teacher, [change])
    rows, receipts = _count(AssessmentItemChange), _count(SyncReceipt)

    again = svc.apply_batch(w.teacher, [change, change])

    assert again.receipts == [first.receipts[0], first.receipts[0]]
    assert again.errors == [] and again.events == []
    assert (_count(AssessmentItemChange), _count(SyncReceipt)) == (rows, receipts)
    assert _item(w, key).version == 1


def test_replay_with_another_base_version_is_still_the_same_change(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    change = item_change(w, key, "2", base_version=0)
    first = svc.apply_batch(w.teacher, [change])
    again = svc.apply_batch(w.teacher, [{**change, "base_version": 1}])
    assert again.receipts == first.receipts and again.errors == []


@pytest.mark.parametrize(
    "altered",
    [{"value": "4"}, {"device_time": "2026-06-20T12:00:00+02:00"}, {"item_key": "engagement"}],
)
def test_same_uuid_with_another_payload_is_refused(f: Any, altered: dict[str, Any]) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    change = item_change(w, key, "2")
    svc.apply_batch(w.teacher, [change])
    if altered.get("item_key") == "engagement":
        altered = {"item_key": "engagement", "value": "2"}
    rows = _count(AssessmentItemChange)

    result = svc.apply_batch(w.teacher, [{**change, **altered}])

    assert result.receipts == []
    assert result.errors == [
        {
            "index": 0,
            "uuid": change["uuid"],
            "status": 422,
            "error": "uuid_reused",
            "message": "Cet identifiant de modification a déjà servi pour une autre modification.",
        }
    ]
    assert _count(AssessmentItemChange) == rows and _item(w, key).value == "2"


def test_same_uuid_from_another_user_is_refused(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    change = item_change(w, key, "2")
    svc.apply_batch(w.teacher, [change])
    result = svc.apply_batch(w.tutor, [change])
    assert result.errors[0]["error"] == "uuid_reused" and result.receipts == []
    assert _item(w, key).author_id == w.teacher.id


def test_changes_to_different_items_never_conflict(f: Any) -> None:
    w = f.world()
    first, second = _keys(f, w, 2)
    teacher = svc.apply_batch(w.teacher, [item_change(w, first, "1", base_version=0)])
    tutor = svc.apply_batch(w.tutor, [item_change(w, second, "4", base_version=0)])
    assert teacher.receipts[0]["outcome"] == tutor.receipts[0]["outcome"] == "applied"
    assert not _item(w, first).conflict and not _item(w, second).conflict


def test_later_device_time_wins_and_the_other_value_waits_for_the_teacher(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    # The tutor rated online at 10:00; the teacher rated the same item offline at 10:05,
    # having seen version 0.
    assessments.record_change(
        w.assessment, w.tutor, key, "1", device_time=T0 + timedelta(hours=1), change_uuid=_uuid()
    )
    result = svc.apply_batch(
        w.teacher, [item_change(w, key, "3", at=T0 + timedelta(hours=1, minutes=5))]
    )

    receipt = result.receipts[0]
    assert (receipt["outcome"], receipt["conflict"], receipt["version"]) == ("conflict", True, 2)
    item = _item(w, key)
    assert (item.value, item.conflict, item.conflict_value) == ("3", True, "1")
    history = [(e.value, e.outcome) for e in assessments.item_history(w.assessment, key)]
    assert history == [("3", "conflict"), ("1", "applied")]

    # The teacher restores the other value in one action.
    assessments.resolve_conflict(item, w.teacher, keep=False)
    item = _item(w, key)
    assert (item.value, item.conflict, item.author_id) == ("1", False, w.tutor.id)


def test_earlier_device_time_loses_but_stays_in_history_and_flags_the_item(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    assessments.record_change(
        w.assessment, w.tutor, key, "4", device_time=T0 + timedelta(hours=2), change_uuid=_uuid()
    )
    result = svc.apply_batch(w.teacher, [item_change(w, key, "0", at=T0)])

    receipt = result.receipts[0]
    assert (receipt["outcome"], receipt["conflict"], receipt["version"]) == ("superseded", True, 1)
    item = _item(w, key)
    assert (item.value, item.conflict, item.conflict_value) == ("4", True, "0")
    outcomes = [e.outcome for e in assessments.item_history(w.assessment, key)]
    assert outcomes == ["superseded", "applied"]

    assessments.resolve_conflict(item, w.teacher, keep=True)
    assert _item(w, key).value == "4" and not _item(w, key).conflict


def test_changes_chained_on_the_receipt_version_do_not_conflict_with_themselves(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    first = svc.apply_batch(w.tutor, [item_change(w, key, "1", base_version=0)]).receipts[0]
    second = svc.apply_batch(
        w.tutor,
        [item_change(w, key, "2", base_version=first["version"], at=T0 + timedelta(seconds=5))],
    ).receipts[0]
    assert second["outcome"] == "applied" and not second["conflict"]
    assert _item(w, key).value == "2"


def test_a_batch_applies_the_valid_changes_and_reports_each_refused_one(f: Any) -> None:
    w = f.world()
    good, bad_level = _keys(f, w, 2)
    other_criterion = f.s.scalar(
        select(Criterion.id).where(Criterion.framework_id == w.other_level.framework_id).limit(1)
    )
    changes: list[Any] = [
        item_change(w, good, "2"),
        item_change(w, bad_level, "9"),
        item_change(w, f"criterion:{other_criterion}", "2"),
        item_change(w, "engagement", "7"),
        item_change(w, "comment", "x" * 5001),
        item_change(w, "engagement", "3"),
        "not an object",
        {**item_change(w, good, "1"), "uuid": "not-a-uuid"},
        {**item_change(w, good, "1"), "device_time": "2026-06-20T10:00:00"},
        {**item_change(w, good, "1"), "type": "journal"},
        {**item_change(w, good, "1"), "assessment_id": True},
        {**item_change(w, good, "1"), "value": 3},
        {**item_change(w, good, "1"), "base_version": -1},
        item_change(w, "meeting_date", "31/06/2026"),
    ]
    result = svc.apply_batch(w.teacher, changes)

    assert [r["uuid"] for r in result.receipts] == [changes[0]["uuid"], changes[5]["uuid"]]
    assert [e["index"] for e in result.errors] == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13]
    assert {e["status"] for e in result.errors} == {422}
    by_index = {e["index"]: e for e in result.errors}
    assert "Niveau inconnu" in by_index[1]["message"]
    assert "n'appartient pas au référentiel" in by_index[2]["message"]
    assert by_index[6]["uuid"] is None
    assert by_index[7]["uuid"] == "not-a-uuid"
    assert "fuseau horaire" in by_index[8]["message"]
    assert _item(w, good).value == "2" and _item(w, "engagement").value == "3"
    assert _count(SyncReceipt) == 2  # refused changes leave no receipt: a fixed resend works


def test_a_batch_of_valid_changes_lands_together_even_twice_on_a_new_item(f: Any) -> None:
    """The usual batch is applied in one go (sync._apply_together): an item rated twice in it,
    never rated before, gets both changes in order, each with its version and history row."""
    w = f.world()
    first, other = _keys(f, w, 2)
    changes = [
        item_change(w, first, "1", base_version=None),
        item_change(w, other, "2", base_version=None),
        item_change(w, first, "3", base_version=1, at=T0 + timedelta(seconds=5)),
    ]
    result = svc.apply_batch(w.tutor, changes)

    assert result.errors == []
    assert [(r["uuid"], r["outcome"], r["version"]) for r in result.receipts] == [
        (changes[0]["uuid"], "applied", 1),
        (changes[1]["uuid"], "applied", 1),
        (changes[2]["uuid"], "applied", 2),
    ]
    item = _item(w, first)
    assert item.value == "3" and item.version == 2 and not item.conflict
    history = f.s.scalars(
        select(AssessmentItemChange.value)
        .where(AssessmentItemChange.item_id == item.id)
        .order_by(AssessmentItemChange.id)
    ).all()
    assert history == ["1", "3"]
    assert _count(SyncReceipt) == 3


def test_a_change_refused_while_applying_leaves_the_others_of_its_batch_applied(f: Any) -> None:
    """Well-formed changes, one of which the server refuses (a level outside the scale): the
    batch falls back to one change at a time, so the others land and only that one fails."""
    w = f.world()
    good, bad = _keys(f, w, 2)
    changes = [
        item_change(w, good, "2", base_version=None),
        item_change(w, bad, "9", base_version=None),
        item_change(w, good, "3", base_version=1, at=T0 + timedelta(seconds=5)),
        item_change(w, "engagement", "3", base_version=None),
    ]
    result = svc.apply_batch(w.teacher, changes)

    assert [r["uuid"] for r in result.receipts] == [changes[i]["uuid"] for i in (0, 2, 3)]
    assert [(e["index"], e["status"]) for e in result.errors] == [(1, 422)]
    assert "Niveau inconnu" in result.errors[0]["message"]
    item = _item(w, good)
    assert item.value == "3" and item.version == 2
    assert _item(w, "engagement").value == "3"
    assert (
        f.s.scalar(
            select(AssessmentItem.id).where(
                AssessmentItem.assessment_id == w.assessment.id, AssessmentItem.item_key == bad
            )
        )
        is None
        or _item(w, bad).value is None
    )
    assert _count(SyncReceipt) == 3
    assert (
        f.s.scalar(
            select(func.count())
            .select_from(AssessmentItemChange)
            .where(AssessmentItemChange.item_id == item.id)
        )
        == 2
    )


def test_device_clock_ahead_counts_as_the_time_of_arrival(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    before = utcnow()
    svc.apply_batch(w.tutor, [item_change(w, key, "3", at=before + timedelta(days=30))])
    item = _item(w, key)
    assert item.device_time is not None and before <= item.device_time <= utcnow()


def test_change_to_a_completed_assessment_is_rejected_but_kept_in_history(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    assessments.complete(w.assessment, w.teacher)
    change = item_change(w, key, "3")
    result = svc.apply_batch(w.tutor, [change])

    receipt = result.receipts[0]
    assert receipt["outcome"] == "rejected" and "complété" in receipt["message"]
    assert result.events == []
    row = f.s.scalar(
        select(AssessmentItemChange).where(AssessmentItemChange.change_uuid == change["uuid"])
    )
    assert row is not None and (row.outcome, row.value, row.author_id) == (
        "rejected",
        "3",
        w.tutor.id,
    )
    assert _item(w, key).value is None
    entries = assessments.item_history(w.assessment, key)
    assert [(e.value, e.outcome_label) for e in entries] == [("3", "refusée")]
    assert svc.apply_batch(w.tutor, [change]).receipts == [receipt]  # replay


def test_a_batch_over_two_assessments_answers_each_change_for_itself(f: Any) -> None:
    """One outbox, two assessments of the learner (the earlier one completed meanwhile), an
    entry already sent, an unknown item: each change gets its own answer, in order."""
    w = f.world()
    first, second, third = _keys(f, w, 3)
    earlier = f.period(w.level, [w.learner], start=date(2026, 1, 5), weeks=1, tutor=w.tutor)
    completed = f.assessment(earlier.portfolios[0])
    f.s.flush()
    assessments.complete(completed, w.teacher)
    sent = item_change(w, first, "2")
    sent_receipt = svc.apply_batch(w.tutor, [sent]).receipts[0]
    changes = [
        item_change(w, second, "3"),
        item_change(w, second, "1", assessment_id=completed.id),
        sent,
        item_change(w, "criterion:999999", "2"),
        item_change(w, third, "4", assessment_id=completed.id),
        item_change(w, "engagement", "4"),
    ]

    result = svc.apply_batch(w.tutor, changes)

    assert [r["uuid"] for r in result.receipts] == [changes[i]["uuid"] for i in (0, 1, 2, 4, 5)]
    assert [(r["assessment_id"], r["outcome"]) for r in result.receipts] == [
        (w.assessment.id, "applied"),
        (completed.id, "rejected"),
        (w.assessment.id, "applied"),
        (completed.id, "rejected"),
        (w.assessment.id, "applied"),
    ]
    assert result.receipts[2] == sent_receipt
    assert [(e["index"], e["uuid"], e["status"]) for e in result.errors] == [
        (3, changes[3]["uuid"], 422)
    ]
    assert "n'appartient pas au référentiel" in result.errors[0]["message"]
    assert (_item(w, second).value, _item(w, "engagement").value) == ("3", "4")
    assert _item(w, first).version == 1  # the entry sent twice counted once
    kept = [(e.value, e.outcome) for e in assessments.item_history(completed, third)]
    assert kept == [("4", "rejected")]
    untouched = f.s.scalars(
        select(AssessmentItem.value).where(
            AssessmentItem.assessment_id == completed.id,
            AssessmentItem.item_key.in_([second, third]),
        )
    ).all()
    assert untouched == [None, None]
    assert [data["item_key"] for _, _, data in result.events] == [second, "engagement"]
    assert _count(SyncReceipt) == 5  # the one sent before and the four new ones taken

    rows = _count(AssessmentItemChange)
    again = svc.apply_batch(w.tutor, changes)  # the device did not get the answer: resends
    assert (again.receipts, again.errors, again.events) == (result.receipts, result.errors, [])
    assert _count(AssessmentItemChange) == rows


@pytest.mark.parametrize("role", ["learner", "admin", "master"])
def test_people_who_do_not_rate_this_assessment_get_404_per_change(f: Any, role: str) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    result = svc.apply_batch(w.user(role), [item_change(w, key, "3")])
    assert result.receipts == []
    assert (result.errors[0]["status"], result.errors[0]["error"]) == (404, "not_found")
    assert _count(AssessmentItemChange) == 0 and _count(SyncReceipt) == 0


def test_unknown_or_foreign_assessment_is_404(f: Any) -> None:
    w = f.world()
    key = _keys(f, w, 1)[0]
    result = svc.apply_batch(
        w.teacher,
        [
            item_change(w, key, "3", assessment_id=999_999),
            item_change(w, key, "3", assessment_id=w.other_assessment.id),
        ],
    )
    assert [e["status"] for e in result.errors] == [404, 404]


# --- activity sheets -------------------------------------------------------------------------


def test_learner_sheet_draft_is_applied_once(f: Any) -> None:
    w = f.world()
    change = sheet_change(
        w, {"description": "J'ai câblé un <script>tableau</script>.", "analysis": "Appris."}
    )
    result = svc.apply_batch(w.learner, [change])

    receipt = result.receipts[0]
    assert receipt["outcome"] == "applied" and receipt["sheet_id"] == w.sheet.id
    f.s.refresh(w.sheet)
    assert w.sheet.description == "J'ai câblé un <script>tableau</script>."
    assert w.sheet.analysis == "Appris."
    assert receipt["updated_at"] == w.sheet.learner_updated_at.isoformat()
    assert result.events == [
        (
            f"period:{w.period.id}",
            "sheet_saved",
            {"portfolio_id": w.portfolio.id, "sheet_id": w.sheet.id},
        )
    ]
    stamp = w.sheet.learner_updated_at
    again = svc.apply_batch(w.learner, [change])
    assert again.receipts == [receipt] and again.events == []
    f.s.refresh(w.sheet)
    assert w.sheet.learner_updated_at == stamp


def test_sheet_changed_elsewhere_later_keeps_its_text_and_logs_the_draft(f: Any) -> None:
    w = f.world()
    seen = utcnow() - timedelta(hours=3)
    w.sheet.description, w.sheet.learner_updated_at = "Texte de l'ordinateur.", utcnow()
    f.s.flush()
    change = sheet_change(
        w, {"description": "Brouillon du téléphone."}, at=seen, base=seen.isoformat()
    )
    result = svc.apply_batch(w.learner, [change])

    assert result.receipts[0]["outcome"] == "superseded"
    f.s.refresh(w.sheet)
    assert w.sheet.description == "Texte de l'ordinateur."
    log = f.s.scalar(select(AuditLog).where(AuditLog.action == "sheet.sync_superseded"))
    assert log is not None and log.details["fields"] == {"description": "Brouillon du téléphone."}


def test_sheet_changed_elsewhere_earlier_is_replaced_and_the_old_text_logged(f: Any) -> None:
    w = f.world()
    written = utcnow() - timedelta(hours=2)
    w.sheet.description, w.sheet.learner_updated_at = "Ancien texte.", written
    f.s.flush()
    change = sheet_change(
        w,
        {"description": "Nouveau texte."},
        at=utcnow() - timedelta(minutes=5),
        base=(written - timedelta(days=1)).isoformat(),
    )
    result = svc.apply_batch(w.learner, [change])

    assert result.receipts[0]["outcome"] == "conflict"
    f.s.refresh(w.sheet)
    assert w.sheet.description == "Nouveau texte."
    log = f.s.scalar(select(AuditLog).where(AuditLog.action == "sheet.sync_replaced"))
    assert log is not None and log.details["replaced"] == {"description": "Ancien texte."}


def test_stale_sheet_draft_equal_to_the_server_text_is_simply_applied(f: Any) -> None:
    w = f.world()
    w.sheet.description, w.sheet.learner_updated_at = "Même texte.", utcnow()
    f.s.flush()
    change = sheet_change(w, {"description": "Même texte."}, base=None)
    assert svc.apply_batch(w.learner, [change]).receipts[0]["outcome"] == "applied"
    assert f.s.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_sheet_changes_are_the_learners_own(f: Any) -> None:
    w = f.world()
    fields = {"description": "Intrus."}
    assert svc.apply_batch(w.tutor, [sheet_change(w, fields)]).errors[0]["status"] == 403
    assert svc.apply_batch(w.teacher, [sheet_change(w, fields)]).errors[0]["status"] == 403
    assert svc.apply_batch(w.classmate, [sheet_change(w, fields)]).errors[0]["status"] == 404
    assert (
        svc.apply_batch(w.learner, [sheet_change(w, fields, sheet_id=w.other_sheet.id)]).errors[0][
            "status"
        ]
        == 404
    )
    f.s.refresh(w.sheet)
    assert w.sheet.description == ""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"description": "x" * 20001}, "trop long"),
        ({"conditions": "sometimes"}, "Conditions"),
        ({"activity_id": 999_999}, "Activité"),
        ({"password_hash": "x"}, "inconnu"),
        ({}, "au moins un champ"),
        ({"description": ["a"]}, "texte"),
    ],
)
def test_bad_sheet_fields_are_refused(f: Any, fields: dict[str, Any], message: str) -> None:
    w = f.world()
    result = svc.apply_batch(w.learner, [sheet_change(w, fields)])
    assert result.errors[0]["status"] == 422 and message in result.errors[0]["message"]
    f.s.refresh(w.sheet)
    assert w.sheet.learner_updated_at is None
