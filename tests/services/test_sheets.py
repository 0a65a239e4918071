"""Sheet service: what the learner's edits change, read state per teacher, complementary and
free sheets, deletion."""

from __future__ import annotations

import io
from typing import Any

import pytest

from app.errors import InvalidInput, NotAllowed
from app.models import ActivitySheet, AuditLog, SheetRead, SheetTask
from app.services import attachments, framework_links, navigation
from app.services import sheets as svc


def test_only_real_changes_by_the_learner_move_the_date(f: Any) -> None:
    w = f.world()
    assert svc.save_sheet(w.sheet, w.learner, {"description": "Texte", "company": " Martin  SA "})
    assert w.sheet.company == "Martin SA"  # spaces tidied in one-line fields
    first = w.sheet.learner_updated_at
    assert first is not None
    assert not svc.save_sheet(w.sheet, w.learner, {"description": "Texte"})
    assert w.sheet.learner_updated_at == first
    with pytest.raises(NotAllowed):
        svc.save_sheet(w.sheet, w.teacher, {"description": "Corrigé"})
    with pytest.raises(NotAllowed):
        svc.save_sheet(w.classmate_portfolio.sheets[0], w.learner, {"description": "x"})


def test_clean_changes_validates_every_field(f: Any) -> None:
    w = f.world()
    activity = w.level.framework.activities[0]
    clean = svc.clean_changes(
        w.sheet,
        {"conditions": "", "activity_id": str(activity.id), "title": "ignored", "x": "y"},
    )
    assert clean == {"conditions": None, "activity_id": activity.id}  # week titles are fixed
    for bad in (
        {"conditions": "sometimes"},
        {"activity_id": "abc"},
        {"activity_id": w.other_level.framework.activities[0].id},
        {"company": "x" * 201},
        {"description": "x" * 20001},
        {"description": ["list"]},
    ):
        with pytest.raises(InvalidInput):
            svc.clean_changes(w.sheet, bad)
    free = f.free_sheet(w.learner)
    with pytest.raises(InvalidInput):
        svc.clean_changes(free, {"title": "   "})
    assert svc.clean_changes(free, {"title": "Stage"}) == {"title": "Stage"}


def test_mark_read_is_per_teacher_and_idempotent(f: Any) -> None:
    w = f.world()
    colleague = f.teacher([w.level])
    f.written(w.sheet)
    sheets = [w.sheet]
    assert navigation.unread_for(w.teacher, sheets) == {w.sheet.id}
    svc.mark_read(w.sheet, w.teacher)
    svc.mark_read(w.sheet, w.teacher)
    svc.mark_read(w.sheet, w.tutor)  # tutors have no read state
    assert f.s.query(SheetRead).filter_by(sheet_id=w.sheet.id).count() == 1
    assert navigation.unread_for(w.teacher, sheets) == set()
    assert navigation.unread_for(colleague, sheets) == {w.sheet.id}


def test_complementary_sheets_go_after_the_period_sheets(f: Any) -> None:
    w = f.world()
    last = max(s.position for s in w.portfolio.sheets)
    mine = svc.create_complementary_sheet(w.portfolio, w.learner, "  Dépannage   portail ")
    theirs = svc.create_complementary_sheet(w.portfolio, w.teacher, "")
    assert (mine.position, theirs.position) == (last + 1, last + 2)
    assert mine.title == "Dépannage portail" and theirs.title == svc.DEFAULT_COMPLEMENTARY_TITLE
    assert theirs.learner_id == w.learner.id and theirs.learner_updated_at is None
    assert mine.learner_updated_at is not None
    for intruder in (w.tutor, w.classmate, w.other_teacher, w.admin):
        with pytest.raises(NotAllowed):
            svc.create_complementary_sheet(w.portfolio, intruder, "x")
    with pytest.raises(InvalidInput):
        svc.create_complementary_sheet(w.portfolio, w.learner, "x" * 201)
    assert f.s.query(AuditLog).filter_by(action="sheet.created").count() == 2


def test_free_sheet_then_attached(f: Any) -> None:
    w = f.world()
    sheet = svc.create_free_sheet(w.learner, "Stage d'observation")
    assert sheet.portfolio_id is None and sheet.kind == "free"
    with pytest.raises(NotAllowed):
        svc.create_free_sheet(w.teacher, "x")
    with pytest.raises(NotAllowed):
        svc.attach_to_portfolio(sheet, w.classmate_portfolio, w.learner)
    with pytest.raises(NotAllowed):
        svc.attach_to_portfolio(sheet, w.portfolio, w.teacher)
    svc.attach_to_portfolio(sheet, w.portfolio, w.learner)
    assert sheet.portfolio_id == w.portfolio.id and sheet.kind == "complementary"
    assert sheet.position > max(s.position for s in w.portfolio.sheets if s.id != sheet.id)
    with pytest.raises(NotAllowed):  # already in a period
        svc.attach_to_portfolio(sheet, w.portfolio, w.learner)


def test_attaching_to_another_diplomas_period_drops_its_links(f: Any) -> None:
    w = f.world()
    sheet = svc.create_free_sheet(w.learner, "Fiche")
    task = w.level.framework.activities[0].tasks[0]
    framework_links.toggle(sheet, w.level.framework_id, w.learner, f"tick:{task.id}", True)
    sheet.activity_id = w.level.framework.activities[0].id
    other_period = f.period(w.other_level, [w.learner])
    svc.attach_to_portfolio(sheet, other_period.portfolios[0], w.learner)
    f.s.flush()
    assert f.s.query(SheetTask).filter_by(sheet_id=sheet.id).count() == 0
    assert sheet.activity_id is None


def test_delete_sheet(f: Any, db: Any) -> None:
    w = f.world()
    with pytest.raises(NotAllowed):
        svc.delete_sheet(w.sheet, w.learner)  # a week sheet
    extra = svc.create_complementary_sheet(w.portfolio, w.learner, "À jeter")
    upload = attachments.add_file(extra, w.learner, io.BytesIO(b"%PDF-1.4 x"), "a.pdf")
    db.session.commit()
    path = attachments.file_path(upload)
    assert path is not None and path.exists()
    with pytest.raises(NotAllowed):
        svc.delete_sheet(extra, w.teacher)
    svc.delete_sheet(extra, w.learner)
    db.session.commit()
    assert f.s.get(ActivitySheet, extra.id) is None
    assert not path.exists()
    assert f.s.query(AuditLog).filter_by(action="sheet.deleted", object_id=extra.id).count() == 1


def test_neighbours_for_reading_sheets_one_by_one(f: Any) -> None:
    w = f.world()
    first, second = w.portfolio.sheets[0], w.portfolio.sheets[1]
    around = svc.neighbours(second)
    assert around is not None
    assert around.previous is not None and around.previous.id == first.id
    assert (around.position, around.total) == (2, len(w.portfolio.sheets))
    assert svc.neighbours(f.free_sheet(w.learner)) is None
