"""The learner dashboard: levels per completed assessment and interim review, evidence,
filters by period and source, coverage of the criteria."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select

from app.models import (
    Competency,
    InterimReview,
    InterimReviewPosition,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
)
from app.services import assessments as svc
from app.services.dashboard import build_dashboard


def competencies(f: Any, framework_id: int) -> list[Competency]:
    rows = list(
        f.s.scalars(
            select(Competency)
            .where(Competency.framework_id == framework_id)
            .order_by(Competency.position)
        )
    )
    for row in rows:
        _ = row.criteria, row.tasks
    return rows


def rate(assessment: Any, user: Any, key: str, value: str) -> None:
    svc.record_change(assessment, user, key, value, device_time=None, change_uuid=str(uuid.uuid4()))


def second_period(f: Any, w: Any, company: str = "Bâtiments Durand") -> Any:
    period = f.period(w.level, [], start=date(2026, 9, 7), weeks=2, name="PFMP 2")
    portfolio = f.portfolio(period, w.learner, tutor=w.tutor)
    portfolio.liaison_sheet.company_name = company
    f.s.flush()
    return portfolio, f.assessment(portfolio)


def test_completed_assessments_feed_the_dashboard_period_by_period(f: Any) -> None:
    w = f.world()
    w.portfolio.liaison_sheet.company_name = "Électricité Martin"
    c1, c2 = competencies(f, w.level.framework_id)[:2]
    sheet = w.portfolio.sheets[0]
    task = c1.tasks[0]
    f.s.add(SheetTask(sheet_id=sheet.id, task_id=task.id))
    f.s.add(SheetCompetency(sheet_id=sheet.id, task_id=task.id, competency_id=c1.id, mode="global"))
    f.s.flush()
    rate(w.assessment, w.teacher, f"competency:{c1.id}", "3")
    svc.set_competency_mode(w.assessment, w.teacher, c2.id, "criteria")
    rate(w.assessment, w.tutor, f"criterion:{c2.criteria[0].id}", "4")
    rate(w.assessment, w.tutor, f"criterion:{c2.criteria[1].id}", "1")
    rate(w.assessment, w.tutor, "engagement", "3")
    _, assessment2 = second_period(f, w)
    rate(assessment2, w.teacher, f"competency:{c1.id}", "4")

    board = build_dashboard(w.learner)
    assert board.columns == []  # nothing completed yet: drafts never show
    svc.complete(w.assessment, w.teacher)
    svc.complete(assessment2, w.teacher)
    board = build_dashboard(w.learner)
    assert [c.label for c in board.columns] == [w.period.name, "PFMP 2"]
    assert [c.company for c in board.columns] == ["Électricité Martin", "Bâtiments Durand"]
    assert board.columns[0].engagement == 3
    lines = {line.id: line for line in board.lines}
    first, second = lines[c1.id].cells
    assert first.level is not None and first.level.code == "3" and first.mode == "global"
    assert [ref.title for ref in first.evidence] == [sheet.title]
    assert second.level is not None and second.level.code == "4"
    assert lines[c1.id].latest is not None and lines[c1.id].latest.code == "4"
    crit_cell = lines[c2.id].cells[0]
    assert crit_cell.mode == "criteria"
    assert [(c.code, c.level.code) for c in crit_cell.criteria] == [
        (c2.criteria[0].code, "4"),
        (c2.criteria[1].code, "1"),
    ]
    assert crit_cell.level is not None and crit_cell.level.code == "1"  # lower median


def test_filters_by_period_and_source(f: Any) -> None:
    w = f.world()
    c1 = competencies(f, w.level.framework_id)[0]
    rate(w.assessment, w.teacher, f"competency:{c1.id}", "2")
    svc.complete(w.assessment, w.teacher)
    portfolio2, assessment2 = second_period(f, w)
    svc.complete(assessment2, w.teacher)
    review = InterimReview(
        learner_id=w.learner.id, teacher_id=w.teacher.id, review_date=date(2026, 12, 1), comment=""
    )
    f.s.add(review)
    f.s.flush()
    f.s.add(
        InterimReviewPosition(
            review_id=review.id, competency_id=c1.id, value="3", comment="En progrès"
        )
    )
    f.s.flush()

    board = build_dashboard(w.learner)
    assert [c.source for c in board.columns] == ["company", "company", "school"]
    school = {line.id: line for line in board.lines}[c1.id].cells[2]
    assert school.level is not None and school.level.code == "3" and school.note == "En progrès"
    only_second = build_dashboard(w.learner, period_ids={portfolio2.period_id})
    assert [c.label for c in only_second.columns] == ["PFMP 2", "Bilan intermédiaire"]
    assert [p.selected for p in only_second.periods] == [False, True]
    assert [c.source for c in build_dashboard(w.learner, source="company").columns] == [
        "company",
        "company",
    ]
    assert [c.source for c in build_dashboard(w.learner, source="school").columns] == ["school"]
    assert build_dashboard(w.learner, source="nonsense").source == "all"


def test_coverage_shows_observed_criteria_with_companies_and_the_others(f: Any) -> None:
    w = f.world()
    w.portfolio.liaison_sheet.company_name = "Électricité Martin"
    c1 = competencies(f, w.level.framework_id)[0]
    svc.set_competency_mode(w.assessment, w.teacher, c1.id, "criteria")
    rate(w.assessment, w.teacher, f"criterion:{c1.criteria[0].id}", "3")
    rate(w.assessment, w.teacher, f"criterion:{c1.criteria[1].id}", "NE")  # not observed
    svc.complete(w.assessment, w.teacher)
    _, assessment2 = second_period(f, w)
    svc.set_competency_mode(assessment2, w.teacher, c1.id, "criteria")
    rate(assessment2, w.teacher, f"criterion:{c1.criteria[0].id}", "4")
    svc.complete(assessment2, w.teacher)

    board = build_dashboard(w.learner)
    group = {g.id: g for g in board.coverage}[c1.id]
    first = group.criteria[0]
    assert first.observed and first.companies == ["Électricité Martin", "Bâtiments Durand"]
    assert not group.criteria[1].observed
    assert group.observed == 1 and len(group.never) == len(c1.criteria) - 1
    assert board.observed_count == 1
    assert board.criteria_count == sum(
        len(c.criteria) for c in competencies(f, w.level.framework_id)
    )


def test_other_learners_and_frameworks_stay_out(f: Any) -> None:
    w = f.world()
    c1 = competencies(f, w.level.framework_id)[0]
    rate(w.assessment, w.teacher, f"competency:{c1.id}", "2")
    svc.complete(w.assessment, w.teacher)
    assert build_dashboard(w.classmate).columns == []
    other = build_dashboard(w.other_learner)
    assert other.framework_id == w.other_level.framework_id and other.columns == []


def test_criteria_chosen_on_sheets_show_by_default(f: Any) -> None:
    w = f.world()
    c1 = competencies(f, w.level.framework_id)[0]
    sheet, task = w.portfolio.sheets[0], c1.tasks[0]
    f.s.add(SheetTask(sheet_id=sheet.id, task_id=task.id))
    f.s.add(
        SheetCompetency(sheet_id=sheet.id, task_id=task.id, competency_id=c1.id, mode="criteria")
    )
    f.s.add(SheetCriterion(sheet_id=sheet.id, task_id=task.id, criterion_id=c1.criteria[0].id))
    f.s.flush()
    rate(w.assessment, w.teacher, f"criterion:{c1.criteria[0].id}", "2")
    svc.complete(w.assessment, w.teacher)
    cell = {line.id: line for line in build_dashboard(w.learner).lines}[c1.id].cells[0]
    assert cell.mode == "criteria" and cell.level is not None and cell.level.code == "2"
