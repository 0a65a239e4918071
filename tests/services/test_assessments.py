"""The assessment service: record_change (validation, authorship, history, duplicates, the
F7 conflict rule), resolve_conflict, modes, status, and build_grid's marks from the sheets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import AssessmentCompleted, DomainError, InvalidInput, NotAllowed, NotFound
from app.models import (
    AssessmentItem,
    AssessmentItemChange,
    AuditLog,
    Competency,
    Criterion,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
    Task,
)
from app.services import assessments as svc


def _uuid() -> str:
    return str(uuid.uuid4())


def _criteria(f: Any, framework_id: int) -> list[Criterion]:
    return list(
        f.s.scalars(
            select(Criterion).where(Criterion.framework_id == framework_id).order_by(Criterion.id)
        )
    )


def _competencies(f: Any, framework_id: int) -> list[Competency]:
    return list(
        f.s.scalars(
            select(Competency)
            .where(Competency.framework_id == framework_id)
            .order_by(Competency.position)
        )
    )


def rate(w: Any, user: Any, key: str, value: str | None, **kw: Any) -> svc.ChangeResult:
    kw.setdefault("device_time", None)
    kw.setdefault("change_uuid", _uuid())
    return svc.record_change(w.assessment, user, key, value, **kw)


def test_rating_records_value_author_times_and_history(f: Any) -> None:
    w = f.world()
    criterion = _criteria(f, w.level.framework_id)[0]
    key = f"criterion:{criterion.id}"
    device = datetime(2026, 6, 20, 9, 30, tzinfo=UTC)
    result = rate(w, w.teacher, key, "3", device_time=device)
    assert result.outcome == "applied" and result.applied and not result.duplicate
    item = result.item
    assert (item.value, item.version, item.author_id, item.author_role) == (
        "3",
        1,
        w.teacher.id,
        "teacher",
    )
    assert item.device_time == device and item.server_time is not None
    assert item.criterion_id == criterion.id and item.competency_id == criterion.competency_id

    second = rate(w, w.tutor, key, "4")
    assert second.item.id == item.id
    assert (item.value, item.version, item.author_role, item.author_id) == (
        "4",
        2,
        "tutor",
        w.tutor.id,
    )
    history = f.s.scalars(
        select(AssessmentItemChange)
        .where(AssessmentItemChange.item_id == item.id)
        .order_by(AssessmentItemChange.id)
    ).all()
    assert [(c.value, c.previous_value, c.author_role, c.outcome) for c in history] == [
        ("3", None, "teacher", "applied"),
        ("4", "3", "tutor", "applied"),
    ]
    entries = svc.item_history(w.assessment, key)
    assert entries[0].value_text == "4 – Très bien maîtrisé"
    assert entries[0].author_role_label == "Formateur en entreprise"
    assert entries[1].device_time == device


def test_clearing_a_rating_keeps_it_in_history(f: Any) -> None:
    w = f.world()
    key = f"criterion:{_criteria(f, w.level.framework_id)[0].id}"
    rate(w, w.teacher, key, "2")
    result = rate(w, w.teacher, key, None)
    assert result.item.value is None and result.item.version == 2
    assert [e.value_text for e in svc.item_history(w.assessment, key)] == [
        "(effacée)",
        "2 – Fragile",
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("criterion:999999999", "3", "n'appartient pas au référentiel"),
        ("competency:999999999", "3", "n'appartient pas au référentiel"),
        ("criterion:abc", "3", "n'existe pas"),
        ("rating", "3", "n'existe pas"),
        ("engagement", "5", "1 à 4"),
        ("engagement", "0", "1 à 4"),
        ("meeting_date", "2026-13-45", "Date de rencontre invalide"),
        ("meeting_date", "demain", "Date de rencontre invalide"),
        ("comment", "x" * 5001, "trop long"),
    ],
)
def test_invalid_changes_are_refused_with_a_message(
    f: Any, key: str, value: str, message: str
) -> None:
    w = f.world()
    with pytest.raises(InvalidInput) as refused:
        rate(w, w.teacher, key, value)
    assert message in refused.value.message
    assert f.s.scalar(select(func.count(AssessmentItem.id))) == 0


def test_level_outside_the_scale_and_other_framework_are_refused(f: Any) -> None:
    w = f.world()
    mine = _criteria(f, w.level.framework_id)[0]
    other = _criteria(f, w.other_level.framework_id)[0]  # Bac Pro MEE
    with pytest.raises(InvalidInput) as refused:
        rate(w, w.teacher, f"criterion:{mine.id}", "5")
    assert (
        "Niveau inconnu" in refused.value.message and "NE, 0, 1, 2, 3, 4" in refused.value.message
    )
    with pytest.raises(InvalidInput):
        rate(w, w.teacher, f"criterion:{mine.id}", "<b>3</b>")
    with pytest.raises(InvalidInput):
        rate(w, w.teacher, f"criterion:{other.id}", "3")


def test_other_values_are_normalised(f: Any) -> None:
    w = f.world()
    assert rate(w, w.tutor, "engagement", "4").item.value == "4"
    assert rate(w, w.tutor, "meeting_date", " 2026-06-25 ").item.value == "2026-06-25"
    assert rate(w, w.tutor, "comment", "Très bien\r\nmerci").item.value == "Très bien\nmerci"
    assert rate(w, w.tutor, "comment", "   ").item.value is None


def test_people_without_rights_cannot_rate(f: Any) -> None:
    w = f.world()
    key = f"criterion:{_criteria(f, w.level.framework_id)[0].id}"
    for outsider in (w.master, w.other_teacher, w.other_tutor, w.learner, w.admin):
        with pytest.raises(NotFound):
            rate(w, outsider, key, "3")


def test_completed_assessment_refuses_changes(f: Any) -> None:
    w = f.world()
    key = f"criterion:{_criteria(f, w.level.framework_id)[0].id}"
    svc.complete(w.assessment, w.teacher)
    with pytest.raises(AssessmentCompleted):
        rate(w, w.teacher, key, "3")
    with pytest.raises(AssessmentCompleted):
        rate(w, w.tutor, "comment", "Bien")
    with pytest.raises(AssessmentCompleted):
        svc.set_competency_mode(
            w.assessment, w.teacher, _criteria(f, w.level.framework_id)[0].competency_id, "global"
        )


def test_duplicate_change_uuid_is_ignored(f: Any) -> None:
    w = f.world()
    key = f"criterion:{_criteria(f, w.level.framework_id)[0].id}"
    change_id = _uuid()
    first = rate(w, w.tutor, key, "2", change_uuid=change_id)
    again = rate(w, w.tutor, key, "2", change_uuid=change_id)
    assert again.duplicate and again.applied and again.change is not None
    assert again.change.id == first.change.id if first.change else False
    assert again.item.version == 1
    count = f.s.scalar(
        select(func.count(AssessmentItemChange.id)).where(
            AssessmentItemChange.change_uuid == change_id
        )
    )
    assert count == 1
    with pytest.raises(InvalidInput):
        rate(w, w.tutor, "comment", "autre", change_uuid=change_id)
    with pytest.raises(InvalidInput):
        rate(w, w.tutor, key, "2", change_uuid="not-a-uuid")


def test_later_device_time_wins_a_conflict_and_the_other_value_waits(f: Any) -> None:
    """SPEC F7: an offline change based on an old version meets a newer server value."""
    w = f.world()
    key = f"criterion:{_criteria(f, w.level.framework_id)[0].id}"
    t0 = datetime(2026, 6, 20, 10, 0, tzinfo=UTC)
    rate(w, w.teacher, key, "2", device_time=t0)  # version 1, seen by both devices
    rate(w, w.teacher, key, "3", device_time=t0 + timedelta(minutes=10))  # version 2
    # The tutor rated offline at +5 min, from version 1: earlier than the server's value.
    lost = rate(
        w, w.tutor, key, "1", device_time=t0 + timedelta(minutes=5), base_version=1, via_sync=True
    )
    assert lost.outcome == "superseded" and not lost.applied
    item = lost.item
    assert (item.value, item.version, item.conflict, item.conflict_value) == ("3", 2, True, "1")
    assert lost.change is not None and item.conflict_change_id == lost.change.id
    assert lost.change.via_sync
    # Another device, later in time, wins over the current value.
    won = rate(w, w.tutor, key, "4", device_time=t0 + timedelta(minutes=20), base_version=1)
    assert won.outcome == "conflict" and won.applied
    assert (item.value, item.version, item.conflict, item.conflict_value) == ("4", 3, True, "3")
    outcomes = [e.outcome for e in svc.item_history(w.assessment, key)]
    assert outcomes == ["conflict", "superseded", "applied", "applied"]


def test_stale_change_with_the_same_value_is_no_conflict(f: Any) -> None:
    w = f.world()
    key = f"criterion:{_criteria(f, w.level.framework_id)[0].id}"
    rate(w, w.teacher, key, "2")
    rate(w, w.teacher, key, "3")
    same = rate(w, w.tutor, key, "3", base_version=1)
    assert same.outcome == "applied" and not same.item.conflict


def test_teacher_keeps_or_restores_in_one_action(f: Any) -> None:
    w = f.world()
    key = f"criterion:{_criteria(f, w.level.framework_id)[0].id}"
    t0 = datetime(2026, 6, 20, 10, 0, tzinfo=UTC)
    rate(w, w.teacher, key, "2", device_time=t0)
    rate(w, w.teacher, key, "3", device_time=t0 + timedelta(minutes=10))
    lost = rate(w, w.tutor, key, "1", device_time=t0 + timedelta(minutes=5), base_version=1)
    item = lost.item
    with pytest.raises(NotAllowed):
        svc.resolve_conflict(item, w.tutor, keep=False)
    with pytest.raises(NotFound):
        svc.resolve_conflict(item, w.other_teacher, keep=False)
    restored = svc.resolve_conflict(item, w.teacher, keep=False)
    assert restored.outcome == "restored"
    assert (item.value, item.conflict, item.conflict_value) == ("1", False, None)
    assert item.author_id == w.tutor.id and item.version == 3  # the restored value's author
    assert svc.item_history(w.assessment, key)[0].outcome == "restored"
    with pytest.raises(DomainError):
        svc.resolve_conflict(item, w.teacher, keep=True)  # nothing left to settle

    rate(w, w.teacher, key, "4", device_time=t0 + timedelta(hours=1))
    rate(w, w.tutor, key, "0", device_time=t0 + timedelta(minutes=1), base_version=1)
    assert item.conflict
    kept = svc.resolve_conflict(item, w.teacher, keep=True)
    assert kept.outcome == "kept" and (item.value, item.conflict) == ("4", False)
    actions = f.s.scalars(select(AuditLog.action).where(AuditLog.object_id == w.assessment.id))
    assert {"assessment.conflict_restored", "assessment.conflict_kept"} <= set(actions)


def test_complete_stores_the_default_meeting_date_and_reopen_is_logged(f: Any) -> None:
    w = f.world()
    with pytest.raises(NotAllowed):
        svc.complete(w.assessment, w.tutor)
    svc.complete(w.assessment, w.teacher)
    assert w.assessment.is_completed and w.assessment.completed_by_id == w.teacher.id
    grid = svc.build_grid(w.assessment)
    assert grid.meeting_date.value == w.period.end_date.isoformat()
    with pytest.raises(AssessmentCompleted):
        svc.complete(w.assessment, w.teacher)
    with pytest.raises(NotAllowed):
        svc.reopen(w.assessment, w.tutor)
    svc.reopen(w.assessment, w.teacher)
    assert not w.assessment.is_completed and w.assessment.completed_at is None
    actions = list(
        f.s.scalars(
            select(AuditLog.action)
            .where(AuditLog.object_type == "assessment", AuditLog.object_id == w.assessment.id)
            .order_by(AuditLog.id)
        )
    )
    assert actions == ["assessment.completed", "assessment.reopened"]
    with pytest.raises(DomainError):
        svc.reopen(w.assessment, w.teacher)


def _select(
    f: Any, sheet: Any, task: Task, competency: Competency, criteria: list[Criterion]
) -> None:
    f.s.add(SheetTask(sheet_id=sheet.id, task_id=task.id, ticked_by_learner=True))
    if criteria:
        f.s.add(
            SheetCompetency(
                sheet_id=sheet.id, task_id=task.id, competency_id=competency.id, mode="criteria"
            )
        )
        for criterion in criteria:
            f.s.add(SheetCriterion(sheet_id=sheet.id, task_id=task.id, criterion_id=criterion.id))
    else:
        f.s.add(
            SheetCompetency(
                sheet_id=sheet.id, task_id=task.id, competency_id=competency.id, mode="global"
            )
        )
    f.s.flush()


def test_grid_marks_what_the_sheets_selected_with_reference_numbers(f: Any) -> None:
    w = f.world()
    fw = w.level.framework_id
    competencies = _competencies(f, fw)
    c1, c2 = competencies[0], competencies[1]
    task = c1.tasks[0]
    first, second, third = w.portfolio.sheets[:3]
    _select(f, second, task, c1, c1.criteria[:2])
    _select(f, third, task, c2, [])
    grid = svc.build_grid(w.assessment)
    assert [ref.label for ref in grid.sheets] == [
        f"[1] {second.title}",
        f"[2] {third.title}",
    ]
    assert grid.sheets_line == f"[1] {second.title} – [2] {third.title}"
    rows = {row.id: row for row in grid.competencies}
    assert len(rows) == len(competencies)
    assert rows[c1.id].mode == "criteria" and rows[c1.id].mode_source == "sheets"
    assert rows[c1.id].refs == [1]
    assert [c.refs for c in rows[c1.id].criteria[:3]] == [[1], [1], []]
    assert rows[c2.id].mode == "global" and rows[c2.id].refs == [2]
    assert rows[competencies[2].id].mode_source == "default"
    task_rows = {t.id: t for a in grid.activities for t in a.tasks}
    assert task_rows[task.id].refs == [1, 2]

    # A sheet change updates the marks: the first sheet now selects C2 too.
    _select(f, first, task, c2, [])
    grid = svc.build_grid(w.assessment)
    assert [ref.sheet_id for ref in grid.sheets] == [first.id, second.id, third.id]
    rows = {row.id: row for row in grid.competencies}
    assert rows[c2.id].refs == [1, 3] and rows[c1.id].refs == [2]


def test_an_item_fragment_shows_the_same_sheet_numbers_and_mode_as_the_selections(
    f: Any,
) -> None:
    """item_row reads one item's sheet references and default mode in one query: they must
    be those of portfolio_selections (the numbering of framework_links) for every item."""
    w = f.world()
    competencies = _competencies(f, w.level.framework_id)
    c1, c2, c3 = competencies[:3]
    first, second, third = w.portfolio.sheets[:3]
    # The first sheet has only a task ticked (numbered, selects no competency); the second
    # chooses C1's detailed criteria; the third C2 as a whole and C1's first criterion.
    f.s.add(SheetTask(sheet_id=first.id, task_id=c3.tasks[0].id, ticked_by_learner=True))
    _select(f, second, c1.tasks[0], c1, c1.criteria[:2])
    _select(f, third, c2.tasks[0], c2, [])
    f.s.add(
        SheetCriterion(sheet_id=third.id, task_id=c1.tasks[0].id, criterion_id=c1.criteria[0].id)
    )
    f.s.flush()
    selections = svc.portfolio_selections(w.portfolio.id)
    seen = set()
    for competency in competencies:
        row = svc.item_row(w.assessment, f"competency:{competency.id}")
        assert row.refs == selections.refs(selections.competencies.get(competency.id))
        assert row.mode == selections.default_mode(competency.id)[0]
        for criterion in competency.criteria:
            row = svc.item_row(w.assessment, f"criterion:{criterion.id}")
            assert row.refs == selections.refs(selections.criteria.get(criterion.id))
            assert row.mode == selections.default_mode(competency.id)[0]
            seen.add((tuple(row.refs), row.mode))
    assert svc.item_row(w.assessment, f"criterion:{c1.criteria[0].id}").refs == [2, 3]
    assert ((2, 3), "criteria") in seen and ((), "global") in seen


def test_mode_toggle_overrides_the_sheets_and_keeps_ratings(f: Any) -> None:
    w = f.world()
    c1 = _competencies(f, w.level.framework_id)[0]
    _select(f, w.portfolio.sheets[0], c1.tasks[0], c1, c1.criteria[:1])
    crit_key = f"criterion:{c1.criteria[0].id}"
    rate(w, w.teacher, crit_key, "3")
    svc.set_competency_mode(w.assessment, w.tutor, c1.id, "global")
    rate(w, w.tutor, f"competency:{c1.id}", "2")
    row = svc.competency_row(w.assessment, c1.id)
    assert (row.mode, row.mode_source, row.item.value) == ("global", "assessment", "2")
    svc.set_competency_mode(w.assessment, w.teacher, c1.id, "criteria")
    row = svc.competency_row(w.assessment, c1.id)
    assert row.mode == "criteria" and row.criteria[0].item.value == "3"
    assert row.summary is not None and row.summary.code == "3"
    with pytest.raises(InvalidInput):
        svc.set_competency_mode(w.assessment, w.teacher, c1.id, "both")
    other = _competencies(f, w.other_level.framework_id)[0]
    with pytest.raises(InvalidInput):
        svc.set_competency_mode(w.assessment, w.teacher, other.id, "global")


def test_grid_shows_who_rated_and_conflicts(f: Any) -> None:
    w = f.world()
    c1 = _competencies(f, w.level.framework_id)[0]
    key = f"competency:{c1.id}"
    rate(w, w.tutor, key, "3", device_time=datetime(2026, 6, 20, 10, tzinfo=UTC))
    rate(w, w.teacher, key, "1", device_time=datetime(2026, 6, 20, 9, tzinfo=UTC), base_version=0)
    grid = svc.build_grid(w.assessment)
    view = grid.item(key)
    assert view is not None
    assert view.author_name == w.tutor.full_name and view.author_role == "tutor"
    assert view.level is not None and view.level.text == "3 – Satisfaisant"
    assert view.conflict and view.conflict_level is not None and view.conflict_level.code == "1"
    assert view.conflict_author_name == w.teacher.full_name
    assert grid.conflicts == 1


def test_median_summary_ignores_not_assessed() -> None:
    scale = [
        svc.ScaleChoice(i, c, c, "#000000") for i, c in enumerate(["NE", "0", "1", "2", "3", "4"])
    ]
    assert svc.median_level([scale[0], None]) is None
    assert svc.median_level([scale[5], scale[2], scale[0], scale[4]]) == scale[4]
    assert svc.median_level([scale[5], scale[2]]) == scale[2]


def test_ink_contrasts_with_the_level_colour() -> None:
    assert svc.ink_for("#f9a825") == "#000000"
    assert svc.ink_for("#1f4e79") == "#ffffff"
    assert svc.ink_for("#fff") == "#000000"


# --- concurrency: real commits from two threads ------------------------------------------------


def _committed_world(app: Any) -> dict[str, Any]:
    from app.extensions import db as _db
    from tests.factories import Factory, World

    with app.app_context():
        w = World(Factory(_db.session))
        competencies = _competencies(Factory(_db.session), w.level.framework_id)
        ids = {
            "assessment": w.assessment.id,
            "teacher": w.teacher.id,
            "tutor": w.tutor.id,
            "periods": [w.period.id, w.other_period.id],
            "users": [
                u.id
                for u in (
                    w.admin,
                    w.teacher,
                    w.other_teacher,
                    w.learner,
                    w.classmate,
                    w.other_learner,
                    w.tutor,
                    w.master,
                    w.other_tutor,
                )
            ],
            "classes": [w.class_group.id, w.other_class.id],
            "levels": [w.level.id, w.other_level.id],
            "keys": [
                f"criterion:{competencies[0].criteria[0].id}",
                f"competency:{competencies[1].id}",
            ],
        }
        _db.session.commit()
        _db.session.remove()
    return ids


def _drop_world(app: Any, ids: dict[str, Any]) -> None:
    from sqlalchemy import delete

    from app.extensions import db as _db
    from app.models import ActivitySheet, ClassGroup, Level, Period, User

    with app.app_context():
        _db.session.execute(delete(Period).where(Period.id.in_(ids["periods"])))
        _db.session.execute(delete(ActivitySheet).where(ActivitySheet.learner_id.in_(ids["users"])))
        _db.session.execute(delete(User).where(User.id.in_(ids["users"])))
        _db.session.execute(delete(ClassGroup).where(ClassGroup.id.in_(ids["classes"])))
        _db.session.execute(delete(Level).where(Level.id.in_(ids["levels"])))
        _db.session.commit()
        _db.session.remove()


def test_concurrent_ratings_of_different_items_by_teacher_and_tutor_both_land(app: Any) -> None:
    """Two threads, two sessions, real commits. On PostgreSQL both transactions hold their
    uncommitted rating at the same moment (a barrier between rating and commit): a lock on
    the whole assessment would deadlock the barrier and fail the test."""
    import threading

    from app.extensions import db as _db
    from app.models import Assessment, User

    with app.app_context():
        if _db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite admits one writer at a time: see the HTTP-level test")
    postgres = True
    ids = _committed_world(app)
    start = threading.Barrier(2, timeout=20)
    both_rated = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def worker(user_id: int, key: str, value: str) -> None:
        with app.app_context():
            try:
                user = _db.session.get(User, user_id)
                assessment = _db.session.get(Assessment, ids["assessment"])
                start.wait()
                svc.record_change(
                    assessment, user, key, value, device_time=None, change_uuid=_uuid()
                )
                if postgres:
                    both_rated.wait()
                _db.session.commit()
            except BaseException as error:  # reported below
                errors.append(error)
                _db.session.rollback()
            finally:
                _db.session.remove()

    threads = [
        threading.Thread(target=worker, args=(ids["teacher"], ids["keys"][0], "3")),
        threading.Thread(target=worker, args=(ids["tutor"], ids["keys"][1], "2")),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        with app.app_context():
            items = {
                item.item_key: (item.value, item.author_role)
                for item in _db.session.scalars(
                    select(AssessmentItem).where(AssessmentItem.assessment_id == ids["assessment"])
                )
            }
            _db.session.remove()
        assert items == {ids["keys"][0]: ("3", "teacher"), ids["keys"][1]: ("2", "tutor")}
    finally:
        _drop_world(app, ids)


def test_concurrent_replays_of_one_change_write_one_row(app: Any) -> None:
    """The same change sent twice at once (a device retrying): one history row, one version."""
    import threading

    from app.extensions import db as _db
    from app.models import Assessment, User

    with app.app_context():
        if _db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite admits one writer at a time")
    ids = _committed_world(app)
    change_id = _uuid()
    start = threading.Barrier(2, timeout=20)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            try:
                user = _db.session.get(User, ids["tutor"])
                assessment = _db.session.get(Assessment, ids["assessment"])
                start.wait()
                result = svc.record_change(
                    assessment, user, ids["keys"][0], "4", device_time=None, change_uuid=change_id
                )
                _db.session.commit()
                results.append(result.duplicate)
            except BaseException as error:
                errors.append(error)
                _db.session.rollback()
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert sorted(results) == [False, True]
        with app.app_context():
            rows = _db.session.scalar(
                select(func.count(AssessmentItemChange.id)).where(
                    AssessmentItemChange.change_uuid == change_id
                )
            )
            version = _db.session.scalar(
                select(AssessmentItem.version).where(
                    AssessmentItem.assessment_id == ids["assessment"],
                    AssessmentItem.item_key == ids["keys"][0],
                )
            )
            _db.session.remove()
        assert (rows, version) == (1, 1)
    finally:
        _drop_world(app, ids)
