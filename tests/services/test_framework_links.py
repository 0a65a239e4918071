"""Relier au référentiel: the rules of learner ticks and teacher choices, and what the company
assessment reads back (`selections_for_portfolio`)."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import InvalidInput, NotAllowed
from app.models import ActivitySheet, SheetCompetency, SheetCriterion, SheetTask
from app.services import framework_links as links


def _fw(w: Any) -> int:
    return int(w.level.framework_id)


def _rich_task(w: Any) -> tuple[Any, Any]:
    """A task with a competency that has at least three criteria."""
    for activity in links.framework_tree(_fw(w)):
        for task in activity.tasks:
            for competency in task.competencies:
                if len(competency.criteria) >= 3:
                    return task, competency
    raise AssertionError("no such task")


def _rows(f: Any, model: Any, sheet: ActivitySheet) -> list[Any]:
    return f.s.query(model).filter_by(sheet_id=sheet.id).all()


def test_framework_tree_is_four_queries_whatever_its_size(f: Any, count_queries: Any) -> None:
    counts = []
    for code in ("BTS-MS-A", "BACPRO-MEE"):
        framework_id = f.framework(code).id
        f.s.expunge_all()
        with count_queries() as q:
            tree = links.framework_tree(framework_id)
            total = sum(len(c.criteria) for a in tree for t in a.tasks for c in t.competencies)
        assert total > 0
        counts.append(q.count)
    assert counts == [4, 4]


def _shape(tree: Any) -> list[Any]:
    return [
        (a.id, a.code, a.title, [
            (t.id, t.code, t.title, [
                (c.id, c.code, c.title, [(r.id, r.competency_id, r.title) for r in c.criteria])
                for c in t.competencies
            ])
            for t in a.tasks
        ])
        for a in tree
    ]  # fmt: skip


def test_the_grid_tree_is_the_framework_tree_in_two_statements(f: Any, count_queries: Any) -> None:
    """The grid page's plain tree: same activities, tasks, competencies and criteria, in the
    same order, as the ORM tree, whatever the framework's size."""
    counts = []
    for code in ("BTS-MS-A", "BACPRO-MEE"):
        framework_id = f.framework(code).id
        f.s.expunge_all()
        with count_queries() as q:
            plain = links.grid_tree(framework_id)
        counts.append(q.count)
        assert _shape(plain) == _shape(links.framework_tree(framework_id))
        assert any(c.criteria for a in plain for t in a.tasks for c in t.competencies)
    assert counts == [2, 2]


def test_the_grid_selection_reads_every_kind_of_link_in_one_statement(
    f: Any, count_queries: Any
) -> None:
    w = f.world()
    task, competency = _rich_task(w)
    other = next(c for c in task.competencies if c.id != competency.id)
    first, second = competency.criteria[0], competency.criteria[1]
    links.toggle(w.sheet, _fw(w), w.learner, f"tick:{task.id}", True)
    links.toggle(w.sheet, _fw(w), w.teacher, f"crit:{task.id}:{first.id}", True)
    links.toggle(w.sheet, _fw(w), w.teacher, f"crit:{task.id}:{second.id}", True)
    links.toggle(w.sheet, _fw(w), w.teacher, f"comp:{task.id}:{other.id}", True)
    f.s.expunge_all()
    with count_queries() as q:
        grid = links.grid_selection(w.sheet.id)
    assert q.count == 1
    link = grid.tasks[task.id]
    assert link.ticked_by_learner and link.confirmed_at is not None
    modes = {(task.id, competency.id): "criteria", (task.id, other.id): "global"}
    assert grid.competencies == modes
    assert grid.criteria == {(task.id, first.id), (task.id, second.id)}
    state = links.task_state(task, grid)
    lines = {line[1]: line for line in state.competencies}
    assert lines[competency.id][5:] == ("criteria", 2)
    assert lines[other.id][5:] == ("global", 0)
    assert state.task is task and state.link is link


def test_learner_ticks_and_unticks(f: Any) -> None:
    w = f.world()
    task = links.framework_tree(_fw(w))[0].tasks[0]
    view, changed = links.toggle(w.sheet, _fw(w), w.learner, f"tick:{task.id}", True)
    assert changed and view.task.id == task.id
    row = _rows(f, SheetTask, w.sheet)[0]
    assert (row.task_id, row.ticked_by_learner, row.confirmed_at) == (task.id, True, None)
    assert w.sheet.learner_updated_at is not None
    _, changed = links.toggle(w.sheet, _fw(w), w.learner, f"tick:{task.id}", True)
    assert not changed
    links.toggle(w.sheet, _fw(w), w.learner, f"tick:{task.id}", False)
    assert _rows(f, SheetTask, w.sheet) == []


def test_a_confirmed_task_survives_the_learner_unticking_it(f: Any) -> None:
    w = f.world()
    task = links.framework_tree(_fw(w))[0].tasks[0]
    links.toggle(w.sheet, _fw(w), w.learner, f"tick:{task.id}", True)
    links.toggle(w.sheet, _fw(w), w.teacher, f"confirm:{task.id}", True)
    links.toggle(w.sheet, _fw(w), w.learner, f"tick:{task.id}", False)
    row = _rows(f, SheetTask, w.sheet)[0]
    assert row.ticked_by_learner is False and row.confirmed_by_id == w.teacher.id


def test_global_and_criteria_are_exclusive(f: Any) -> None:
    w = f.world()
    task, competency = _rich_task(w)
    c1, c2, c3 = competency.criteria[:3]
    fw = _fw(w)
    links.toggle(w.sheet, fw, w.teacher, f"comp:{task.id}:{competency.id}", True)
    [comp] = _rows(f, SheetCompetency, w.sheet)
    assert comp.mode == "global"
    assert _rows(f, SheetTask, w.sheet)[0].confirmed_by_id == w.teacher.id  # task added
    # Picking criteria switches the competency to "criteria".
    links.toggle(w.sheet, fw, w.teacher, f"crit:{task.id}:{c1.id}", True)
    view, _ = links.toggle(w.sheet, fw, w.teacher, f"crit:{task.id}:{c2.id}", True)
    assert view.open_competency_id == competency.id
    f.s.expire_all()
    assert [c.mode for c in _rows(f, SheetCompetency, w.sheet)] == ["criteria"]
    assert {c.criterion_id for c in _rows(f, SheetCriterion, w.sheet)} == {c1.id, c2.id}
    # Unticking the last criterion forgets the competency.
    links.toggle(w.sheet, fw, w.teacher, f"crit:{task.id}:{c1.id}", False)
    links.toggle(w.sheet, fw, w.teacher, f"crit:{task.id}:{c2.id}", False)
    assert _rows(f, SheetCompetency, w.sheet) == []
    # Global again clears criteria.
    links.toggle(w.sheet, fw, w.teacher, f"crit:{task.id}:{c3.id}", True)
    links.toggle(w.sheet, fw, w.teacher, f"comp:{task.id}:{competency.id}", True)
    assert _rows(f, SheetCriterion, w.sheet) == []
    assert [c.mode for c in _rows(f, SheetCompetency, w.sheet)] == ["global"]
    # Removing the task removes everything under it.
    links.toggle(w.sheet, fw, w.teacher, f"crit:{task.id}:{c3.id}", True)
    links.toggle(w.sheet, fw, w.teacher, f"task:{task.id}", False)
    for model in (SheetTask, SheetCompetency, SheetCriterion):
        assert _rows(f, model, w.sheet) == []


def test_roles_and_foreign_items_are_refused(f: Any) -> None:
    w = f.world()
    fw = _fw(w)
    task, competency = _rich_task(w)
    foreign_task = links.framework_tree(int(w.other_level.framework_id))[0].tasks[0]
    other_comp = next(
        c for a in links.framework_tree(fw) for t in a.tasks for c in t.competencies
        if c not in task.competencies
    )  # fmt: skip
    with pytest.raises(NotAllowed):
        links.toggle(w.sheet, fw, w.learner, f"task:{task.id}", True)
    with pytest.raises(NotAllowed):
        links.toggle(w.sheet, fw, w.teacher, f"tick:{task.id}", True)
    with pytest.raises(NotAllowed):
        links.toggle(w.sheet, fw, w.tutor, f"comp:{task.id}:{competency.id}", True)
    with pytest.raises(NotAllowed):
        links.toggle(w.sheet, fw, w.other_teacher, f"task:{task.id}", True)
    for item in (
        f"task:{foreign_task.id}",
        f"comp:{task.id}:{other_comp.id}",
        f"crit:{task.id}:{other_comp.criteria[0].id}",
        "task:x",
        "comp:1",
        "delete:1",
    ):
        with pytest.raises(InvalidInput):
            links.toggle(w.sheet, fw, w.teacher, item, True)
    assert _rows(f, SheetTask, w.sheet) == []


def test_replace_selection_for_the_no_js_form(f: Any) -> None:
    w = f.world()
    fw = _fw(w)
    task, competency = _rich_task(w)
    first = links.framework_tree(fw)[0].tasks[0]
    assert links.replace_selection(w.sheet, fw, w.learner, ticks=[str(first.id)])
    assert [(r.task_id, r.ticked_by_learner) for r in _rows(f, SheetTask, w.sheet)] == [
        (first.id, True)
    ]
    # Teacher: the learner's task dropped, one task with one criterion (criteria beat global).
    links.replace_selection(
        w.sheet, fw, w.teacher,
        tasks=[str(task.id)],
        competencies=[f"{task.id}:{competency.id}"],
        criteria=[f"{task.id}:{competency.criteria[0].id}"],
    )  # fmt: skip
    f.s.expire_all()
    assert [r.task_id for r in _rows(f, SheetTask, w.sheet)] == [task.id]
    assert [c.mode for c in _rows(f, SheetCompetency, w.sheet)] == ["criteria"]
    assert [c.criterion_id for c in _rows(f, SheetCriterion, w.sheet)] == [
        competency.criteria[0].id
    ]
    with pytest.raises(InvalidInput):
        links.replace_selection(w.sheet, fw, w.teacher, competencies=["a:b"])


def test_selections_for_portfolio(f: Any, count_queries: Any) -> None:
    w = f.world()
    fw = _fw(w)
    s1, s2, s3 = w.portfolio.sheets[:3]
    task, competency = _rich_task(w)
    c1, c2 = competency.criteria[:2]
    learner_only = next(t for a in links.framework_tree(fw) for t in a.tasks if t.id != task.id)
    # Sheet 3 (week 3) selects the competency globally; sheet 1 by criteria; sheet 2 only
    # carries a learner tick.
    links.toggle(s3, fw, w.teacher, f"comp:{task.id}:{competency.id}", True)
    links.toggle(s1, fw, w.teacher, f"crit:{task.id}:{c2.id}", True)
    links.toggle(s1, fw, w.teacher, f"crit:{task.id}:{c1.id}", True)
    links.toggle(s2, fw, w.learner, f"tick:{learner_only.id}", True)
    # Another learner's selections never leak in.
    links.toggle(w.classmate_portfolio.sheets[0], fw, w.teacher, f"task:{task.id}", True)

    f.s.expunge_all()
    with count_queries() as q:
        result = links.selections_for_portfolio(w.portfolio.id)
    assert q.count == 4

    assert [(r.sheet_id, r.number, r.reviewed) for r in result.sheets] == [
        (s1.id, 1, True),
        (s2.id, 2, False),
        (s3.id, 3, True),
    ]
    assert result.sheets[0].title == s1.title
    assert result.tasks[task.id].sheet_ids == [s1.id, s3.id]
    assert result.tasks[task.id].confirmed_sheet_ids == [s1.id, s3.id]
    assert result.tasks[learner_only.id].sheet_ids == [s2.id]
    assert result.tasks[learner_only.id].confirmed_sheet_ids == []
    mark = result.competencies[competency.id]
    assert mark.sheet_ids == [s1.id, s3.id]
    assert mark.global_sheet_ids == [s3.id] and mark.criteria_sheet_ids == [s1.id]
    assert mark.mode == "criteria" and mark.task_ids == [task.id]
    assert result.criteria[c1.id].sheet_ids == [s1.id]
    assert result.criteria[c2.id].competency_id == competency.id
    assert set(result.criteria) == {c1.id, c2.id}
    assert result.number(s3.id) == 3 and result.number(w.portfolio.sheets[-1].id) in (None, 3)
    assert result.numbers([s3.id, s1.id]) == [3, 1]


def test_selections_for_portfolio_query_count_does_not_grow(f: Any, count_queries: Any) -> None:
    w = f.world()
    fw = _fw(w)
    tasks = [t for a in links.framework_tree(fw) for t in a.tasks]
    f.s.expunge_all()
    with count_queries() as empty:
        assert links.selections_for_portfolio(w.portfolio.id).sheets == []
    sheets = f.s.query(ActivitySheet).filter_by(portfolio_id=w.portfolio.id).all()
    teacher = f.s.merge(w.teacher)
    for sheet in sheets:
        for task in tasks[:5]:
            for competency in task.competencies:
                links.toggle(sheet, fw, teacher, f"comp:{task.id}:{competency.id}", True)
    f.s.expunge_all()
    with count_queries() as full:
        result = links.selections_for_portfolio(w.portfolio.id)
    assert len(result.sheets) == len(sheets)
    assert full.count == empty.count == 4
