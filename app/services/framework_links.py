"""Relier au référentiel: which tasks, competencies and criteria of the framework a sheet
mobilises (SPEC F5), and what the company assessment reads from them (SPEC F6).

Storage (models in app/models/sheet.py), all per sheet and per task of the framework:
- `SheetTask(sheet, task)`: the task is linked. `ticked_by_learner` is the learner's own
  claim; `confirmed_at`/`confirmed_by_id` are set when a teacher confirmed or added it. A
  teacher removing a task deletes the row with its competencies and criteria.
- `SheetCompetency(sheet, task, competency, mode)`: the teacher plans to assess the
  competency, through this task, either as a whole (`mode="global"`) or through detailed
  criteria (`mode="criteria"`, then at least one `SheetCriterion` of that competency exists
  for the same sheet and task).
- `SheetCriterion(sheet, task, criterion)`: a detailed criterion selected through the task.
Global and criteria are exclusive per (sheet, task, competency): choosing one clears the other.

The assessment reads it all through `selections_for_portfolio` (at the end of this module).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    cast,
    delete,
    false,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import raiseload, selectinload
from sqlalchemy.sql.elements import BindParameter

from app import access
from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from app.models import (
    Activity,
    ActivitySheet,
    Competency,
    Criterion,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
    Task,
    User,
)
from app.models.base import utcnow
from app.models.framework import task_competencies

GLOBAL = "global"
CRITERIA = "criteria"


# --- the framework tree ---------------------------------------------------------------------


def framework_tree(framework_id: int) -> list[Activity]:
    """Activities → tasks → competencies → criteria of a framework, in reference order, in 4
    queries whatever its size. Reuse it wherever the whole grid is shown."""
    return list(
        db.session.scalars(
            select(Activity)
            .where(Activity.framework_id == framework_id)
            .order_by(Activity.position, Activity.id)
            .options(
                selectinload(Activity.tasks)
                .selectinload(Task.competencies)
                .selectinload(Competency.criteria),
                raiseload("*"),
            )
        )
    )


def _load_task(framework_id: int | None, task_id: int) -> Task:
    task = db.session.scalar(
        select(Task)
        .where(Task.id == task_id, Task.framework_id == framework_id)
        .options(selectinload(Task.competencies).selectinload(Competency.criteria))
    )
    if task is None:
        raise InvalidInput("Cette tâche n'appartient pas au référentiel de la fiche.")
    return task


# --- one sheet's selection ------------------------------------------------------------------


@dataclass
class SheetSelection:
    """The link rows of one sheet (optionally of one task only), keyed for lookups."""

    tasks: dict[int, SheetTask] = field(default_factory=dict)
    competencies: dict[tuple[int, int], SheetCompetency] = field(default_factory=dict)
    criteria: dict[tuple[int, int], SheetCriterion] = field(default_factory=dict)

    def mode(self, task_id: int, competency_id: int) -> str | None:
        row = self.competencies.get((task_id, competency_id))
        return row.mode if row is not None else None

    def has_criterion(self, task_id: int, criterion_id: int) -> bool:
        return (task_id, criterion_id) in self.criteria

    def criteria_count(self, task_id: int, competency: Competency) -> int:
        return sum(1 for c in competency.criteria if (task_id, c.id) in self.criteria)


def sheet_selection(sheet_id: int, task_id: int | None = None) -> SheetSelection:
    """The rows of a sheet (or of one of its tasks): 3 queries."""
    selection = SheetSelection()
    task_filter = [] if task_id is None else [SheetTask.task_id == task_id]
    for row in db.session.scalars(
        select(SheetTask).where(SheetTask.sheet_id == sheet_id, *task_filter)
    ):
        selection.tasks[row.task_id] = row
    comp_filter = [] if task_id is None else [SheetCompetency.task_id == task_id]
    for comp in db.session.scalars(
        select(SheetCompetency).where(SheetCompetency.sheet_id == sheet_id, *comp_filter)
    ):
        selection.competencies[(comp.task_id, comp.competency_id)] = comp
    crit_filter = [] if task_id is None else [SheetCriterion.task_id == task_id]
    for crit in db.session.scalars(
        select(SheetCriterion).where(SheetCriterion.sheet_id == sheet_id, *crit_filter)
    ):
        selection.criteria[(crit.task_id, crit.criterion_id)] = crit
    return selection


# --- the grid page: plain rows from statements built once -----------------------------------
#
# The grid shows the whole framework (MEE: ~60 tasks, ~300 task × competency pairs, ~1,200
# criteria boxes) and the sheet's choices. It is read-only: columns into small frozen objects
# (same attribute names as the models, so the templates and `_Editor` accept either) instead
# of ORM entities, from statements built and cache-keyed once at import. 3 statements.


@dataclass(frozen=True, slots=True)
class CriterionNode:
    id: int
    competency_id: int
    title: str


@dataclass(frozen=True, slots=True)
class CompetencyNode:
    id: int
    code: str
    title: str
    criteria: tuple[CriterionNode, ...]


@dataclass(frozen=True, slots=True)
class TaskNode:
    id: int
    code: str
    title: str
    competencies: tuple[CompetencyNode, ...]


@dataclass(frozen=True, slots=True)
class ActivityNode:
    id: int
    code: str
    title: str
    tasks: tuple[TaskNode, ...]


_a, _t, _tc = Activity.__table__.c, Task.__table__.c, task_competencies.c
_co, _cr = Competency.__table__.c, Criterion.__table__.c

# Activities → tasks → their competencies' ids, in reference order (an activity without tasks
# or a task without competencies still comes, once, with NULLs).
_TREE_TASKS = (
    select(_a.id, _a.code, _a.title, _t.id, _t.code, _t.title, _co.id)
    .select_from(Activity.__table__)
    .outerjoin(Task.__table__, _t.activity_id == _a.id)
    .outerjoin(task_competencies, _tc.task_id == _t.id)
    .outerjoin(Competency.__table__, _co.id == _tc.competency_id)
    .where(_a.framework_id == bindparam("framework_id"))
    .order_by(_a.position, _a.id, _t.position, _t.id, _co.position, _co.id)
)
# Every competency of the framework with its criteria, in reference order.
_TREE_CRITERIA = (
    select(_co.id, _co.code, _co.title, _cr.id, _cr.title)
    .select_from(Competency.__table__)
    .outerjoin(Criterion.__table__, _cr.competency_id == _co.id)
    .where(_co.framework_id == bindparam("framework_id"))
    .order_by(_co.id, _cr.position, _cr.id)
)


def grid_tree(framework_id: int) -> list[ActivityNode]:
    """The framework tree as plain frozen objects (`framework_tree` without the ORM):
    2 statements whatever its size."""
    connection = db.session.connection()
    params = {"framework_id": framework_id}
    criteria: dict[int, list[CriterionNode]] = {}
    comp_heads: dict[int, tuple[str, str]] = {}
    for comp_id, comp_code, comp_title, crit_id, crit_title in connection.execute(
        _TREE_CRITERIA, params
    ).all():
        if comp_id not in comp_heads:
            comp_heads[comp_id] = (comp_code, comp_title)
            criteria[comp_id] = []
        if crit_id is not None:
            criteria[comp_id].append(CriterionNode(crit_id, comp_id, crit_title))
    competencies = {
        comp_id: CompetencyNode(comp_id, code, title, tuple(criteria[comp_id]))
        for comp_id, (code, title) in comp_heads.items()
    }
    heads: dict[int, tuple[str, str]] = {}  # activity id → (code, title)
    tasks: dict[int, list[tuple[int, str, str, list[CompetencyNode]]]] = {}  # by activity
    comps_of: dict[int, list[CompetencyNode]] = {}  # by task
    for act_id, act_code, act_title, task_id, task_code, task_title, comp_id in connection.execute(
        _TREE_TASKS, params
    ).all():
        if act_id not in heads:
            heads[act_id] = (act_code, act_title)
            tasks[act_id] = []
        if task_id is None:
            continue
        if task_id not in comps_of:
            comps_of[task_id] = []
            tasks[act_id].append((task_id, task_code, task_title, comps_of[task_id]))
        if comp_id in competencies:
            comps_of[task_id].append(competencies[comp_id])
    return [
        ActivityNode(
            act_id,
            code,
            title,
            tuple(
                TaskNode(t_id, t_code, t_title, tuple(comps))
                for t_id, t_code, t_title, comps in tasks[act_id]
            ),
        )
        for act_id, (code, title) in heads.items()
    ]


@dataclass(frozen=True, slots=True)
class TaskLink:
    """What the grid reads of a `SheetTask` row."""

    ticked_by_learner: bool
    confirmed_at: datetime | None


@dataclass
class GridSelection:
    """A sheet's choices for the grid page, read-only (`SheetSelection` without the ORM):
    the same lookups, plus the number of chosen criteria per (task, competency)."""

    tasks: dict[int, TaskLink] = field(default_factory=dict)
    competencies: dict[tuple[int, int], str] = field(default_factory=dict)  # → mode
    criteria: set[tuple[int, int]] = field(default_factory=set)  # (task, criterion)

    def mode(self, task_id: int, competency_id: int) -> str | None:
        return self.competencies.get((task_id, competency_id))

    def has_criterion(self, task_id: int, criterion_id: int) -> bool:
        return (task_id, criterion_id) in self.criteria

    def criteria_count(self, task_id: int, competency: Any) -> int:
        return sum(1 for c in competency.criteria if (task_id, c.id) in self.criteria)


_st, _sc, _sr = SheetTask.__table__.c, SheetCompetency.__table__.c, SheetCriterion.__table__.c
_SHEET: BindParameter[int] = bindparam("sheet_id", type_=Integer)
# The three kinds of link rows of a sheet in one statement: (kind, task, item, ticked,
# confirmed_at, mode); the first branch gives the column types.
_SELECTION = union_all(
    select(literal_column("1"), _st.task_id, _st.task_id, _st.ticked_by_learner,
           _st.confirmed_at, cast(null(), String)).where(_st.sheet_id == _SHEET),
    select(literal_column("2"), _sc.task_id, _sc.competency_id, false(), null(), _sc.mode)
    .where(_sc.sheet_id == _SHEET),
    select(literal_column("3"), _sr.task_id, _sr.criterion_id, false(), null(), null())
    .where(_sr.sheet_id == _SHEET),
)  # fmt: skip


def grid_selection(sheet_id: int) -> GridSelection:
    """The sheet's link rows for the grid page: 1 statement."""
    selection = GridSelection()
    tasks, modes, chosen = selection.tasks, selection.competencies, selection.criteria
    for kind, task_id, item_id, ticked, confirmed_at, mode in (
        db.session.connection().execute(_SELECTION, {"sheet_id": sheet_id}).all()
    ):
        if kind == 1:
            tasks[task_id] = TaskLink(bool(ticked), confirmed_at)
        elif kind == 2:
            modes[(task_id, item_id)] = mode
        else:
            chosen.add((task_id, item_id))
    return selection


# Per competency of a task, what its line of the grid writes: the competency, its id, code,
# title and criteria (unpacked here once rather than looked up attribute by attribute in the
# template), the sheet's mode and how many of its criteria are chosen under this task.
CompetencyLine = tuple[Any, int, str, str, Any, str | None, int]


@dataclass(frozen=True, slots=True)
class TaskState:
    """One task as its block shows it: its link row (if any) and its competency lines."""

    task: Any  # Task or TaskNode
    link: Any  # SheetTask, TaskLink or None
    competencies: tuple[CompetencyLine, ...]


def task_state(task: Any, selection: SheetSelection | GridSelection) -> TaskState:
    """What `sheets/_grid.html`'s task block reads, computed once here rather than per box
    in the template."""
    task_id = task.id
    if isinstance(selection, GridSelection):
        modes = selection.competencies
    else:
        modes = {key: row.mode for key, row in selection.competencies.items()}
    chosen = selection.criteria
    picked = {crit for (t, crit) in chosen if t == task_id} if chosen else ()
    comps: list[CompetencyLine] = []
    for comp in task.competencies:
        comp_id, criteria = comp.id, comp.criteria
        count = len([c for c in criteria if c.id in picked]) if picked else 0
        comps.append(
            (comp, comp_id, comp.code, comp.title, criteria, modes.get((task_id, comp_id)), count)
        )
    tasks = selection.tasks
    return TaskState(task, tasks.get(task_id), tuple(comps))


@dataclass
class GridActivity:
    activity: ActivityNode
    tasks: list[TaskState]


@dataclass
class Grid:
    """What the "Relier au référentiel" page shows: the tree and the sheet's selection."""

    activities: list[GridActivity]
    selection: GridSelection

    @property
    def linked_count(self) -> int:
        return len(self.selection.tasks)

    @property
    def competency_count(self) -> int:
        return len(self.selection.competencies)

    @property
    def criterion_count(self) -> int:
        return len(self.selection.criteria)


def load_grid(framework_id: int | None, sheet: ActivitySheet) -> Grid:
    """The whole grid for a sheet in 3 statements, whatever the size of the framework."""
    selection = grid_selection(sheet.id)
    if framework_id is None:
        return Grid([], selection)
    activities = [
        GridActivity(activity, [task_state(task, selection) for task in activity.tasks])
        for activity in grid_tree(framework_id)
    ]
    return Grid(activities, selection)


def competency_criteria(
    framework_id: int | None, sheet: ActivitySheet, task_id: int, competency_id: int
) -> tuple[Competency, SheetSelection]:
    """One competency of one task, with the sheet's choices under that task (the criteria
    the grid loads when the teacher unfolds them): 4 queries. InvalidInput when the task or
    the competency is not there."""
    task = _load_task(framework_id, task_id)
    competency = next((c for c in task.competencies if c.id == competency_id), None)
    if competency is None:
        raise InvalidInput("Cette compétence n'est pas liée à cette tâche.")
    return competency, sheet_selection(sheet.id, task.id)


# --- editing ----------------------------------------------------------------------------------


class _Editor:
    """Applies learner ticks and teacher choices to a loaded selection, keeping the rules:
    a teacher's choice confirms its task; global and criteria are exclusive."""

    def __init__(self, sheet: ActivitySheet, user: User, selection: SheetSelection) -> None:
        self.sheet, self.user, self.sel = sheet, user, selection

    # learner
    def tick(self, task: Task, checked: bool) -> bool:
        row = self.sel.tasks.get(task.id)
        if checked:
            if row is None:
                row = SheetTask(sheet_id=self.sheet.id, task_id=task.id, ticked_by_learner=True)
                db.session.add(row)
                self.sel.tasks[task.id] = row
                return True
            if not row.ticked_by_learner:
                row.ticked_by_learner = True
                return True
            return False
        if row is None or not row.ticked_by_learner:
            return False
        if row.confirmed_at is None:
            self._remove_task(task)
        else:
            row.ticked_by_learner = False
        return True

    # teacher
    def confirm(self, task: Task) -> bool:
        row = self.sel.tasks.get(task.id)
        if row is None:
            row = SheetTask(sheet_id=self.sheet.id, task_id=task.id, ticked_by_learner=False)
            db.session.add(row)
            self.sel.tasks[task.id] = row
        if row.confirmed_at is not None:
            return False
        row.confirmed_at = utcnow()
        row.confirmed_by_id = self.user.id
        return True

    def set_task(self, task: Task, checked: bool) -> bool:
        if checked:
            return self.confirm(task)
        if task.id not in self.sel.tasks:
            return False
        self._remove_task(task)
        return True

    def set_competency(self, task: Task, competency: Competency, checked: bool) -> bool:
        key = (task.id, competency.id)
        row = self.sel.competencies.get(key)
        if checked:
            self.confirm(task)
            self._drop_criteria(task, competency)
            if row is None:
                row = SheetCompetency(
                    sheet_id=self.sheet.id, task_id=task.id, competency_id=competency.id
                )
                db.session.add(row)
                self.sel.competencies[key] = row
            changed = row.mode != GLOBAL
            row.mode = GLOBAL
            return changed
        dropped = self._drop_criteria(task, competency)
        if row is None:
            return dropped
        db.session.delete(row)
        del self.sel.competencies[key]
        return True

    def set_criterion(self, task: Task, criterion: Criterion, checked: bool) -> bool:
        key = (task.id, criterion.id)
        comp_key = (task.id, criterion.competency_id)
        comp_row = self.sel.competencies.get(comp_key)
        if checked:
            self.confirm(task)
            changed = False
            if key not in self.sel.criteria:
                row = SheetCriterion(
                    sheet_id=self.sheet.id, task_id=task.id, criterion_id=criterion.id
                )
                db.session.add(row)
                self.sel.criteria[key] = row
                changed = True
            if comp_row is None:
                comp_row = SheetCompetency(
                    sheet_id=self.sheet.id, task_id=task.id, competency_id=criterion.competency_id
                )
                db.session.add(comp_row)
                self.sel.competencies[comp_key] = comp_row
            if comp_row.mode != CRITERIA:
                comp_row.mode = CRITERIA
                changed = True
            return changed
        if key not in self.sel.criteria:
            return False
        db.session.delete(self.sel.criteria.pop(key))
        siblings = self._criterion_ids(task, criterion)
        remaining = any(k[0] == task.id and k[1] in siblings for k in self.sel.criteria)
        if not remaining and comp_row is not None and comp_row.mode == CRITERIA:
            db.session.delete(comp_row)
            del self.sel.competencies[comp_key]
        return True

    # helpers
    @staticmethod
    def _criterion_ids(task: Task, criterion: Criterion) -> set[int]:
        for competency in task.competencies:
            if competency.id == criterion.competency_id:
                return {c.id for c in competency.criteria}
        return set()

    def _drop_criteria(self, task: Task, competency: Competency) -> bool:
        dropped = False
        for criterion in competency.criteria:
            row = self.sel.criteria.pop((task.id, criterion.id), None)
            if row is not None:
                db.session.delete(row)
                dropped = True
        return dropped

    def _remove_task(self, task: Task) -> None:
        for key in [k for k in self.sel.criteria if k[0] == task.id]:
            db.session.delete(self.sel.criteria.pop(key))
        for key in [k for k in self.sel.competencies if k[0] == task.id]:
            db.session.delete(self.sel.competencies.pop(key))
        row = self.sel.tasks.pop(task.id, None)
        if row is not None:
            db.session.delete(row)


@dataclass
class TaskView:
    """One task of the grid after a change: what the fragment re-renders."""

    task: Task
    selection: SheetSelection
    open_competency_id: int | None = None  # keep its criteria unfolded after the swap

    @property
    def state(self) -> TaskState:
        return task_state(self.task, self.selection)


def _parse_item(item: str) -> tuple[str, list[int]]:
    kind, _, rest = (item or "").partition(":")
    try:
        ids = [int(part) for part in rest.split(":")] if rest else []
    except ValueError as error:
        raise InvalidInput("Élément du référentiel inconnu.") from error
    expected = {"tick": 1, "task": 1, "confirm": 1, "comp": 2, "crit": 2}
    if kind not in expected or len(ids) != expected[kind]:
        raise InvalidInput("Élément du référentiel inconnu.")
    return kind, ids


def toggle(
    sheet: ActivitySheet, framework_id: int | None, user: User, item: str, checked: bool
) -> tuple[TaskView, bool]:
    """Apply one checkbox of the grid. `item` is "tick:<task>" (learner), "task:<task>",
    "confirm:<task>", "comp:<task>:<competency>" or "crit:<task>:<criterion>" (teacher).
    Returns the task to re-render and whether anything changed."""
    kind, ids = _parse_item(item)
    if kind == "tick":
        if not access.can_write_sheet(user, sheet):
            raise NotAllowed("Seul l'apprenant coche les tâches qu'il pense avoir réalisées.")
    elif not access.can_link_sheet(user, sheet):
        raise NotAllowed("Seul un enseignant relie la fiche au référentiel.")
    task = _load_task(framework_id, ids[0])
    editor = _Editor(sheet, user, sheet_selection(sheet.id, task.id))
    if kind == "tick":
        changed = editor.tick(task, checked)
        if changed:
            sheet.learner_updated_at = utcnow()
    elif kind == "task":
        changed = editor.set_task(task, checked)
    elif kind == "confirm":
        changed = editor.confirm(task)
    elif kind == "comp":
        competency = next((c for c in task.competencies if c.id == ids[1]), None)
        if competency is None:
            raise InvalidInput("Cette compétence n'est pas liée à cette tâche.")
        changed = editor.set_competency(task, competency, checked)
    else:
        criterion = next(
            (cr for c in task.competencies for cr in c.criteria if cr.id == ids[1]), None
        )
        if criterion is None:
            raise InvalidInput("Ce critère n'est pas lié à cette tâche.")
        changed = editor.set_criterion(task, criterion, checked)
        db.session.flush()
        return TaskView(task, editor.sel, criterion.competency_id), changed
    db.session.flush()
    return TaskView(task, editor.sel), changed


def _pairs(values: Iterable[str]) -> set[tuple[int, int]]:
    pairs = set()
    for value in values:
        left, _, right = value.partition(":")
        try:
            pairs.add((int(left), int(right)))
        except ValueError as error:
            raise InvalidInput("Élément du référentiel inconnu.") from error
    return pairs


def _ints(values: Iterable[str]) -> set[int]:
    try:
        return {int(value) for value in values}
    except ValueError as error:
        raise InvalidInput("Élément du référentiel inconnu.") from error


def replace_selection(
    sheet: ActivitySheet,
    framework_id: int | None,
    user: User,
    *,
    ticks: Iterable[str] = (),
    tasks: Iterable[str] = (),
    competencies: Iterable[str] = (),
    criteria: Iterable[str] = (),
) -> bool:
    """The no-JavaScript form of the grid: make the selection exactly what was submitted.
    The learner sends `ticks` (task ids); a teacher sends `tasks` (ids), `competencies` and
    `criteria` ("<task>:<competency>", "<task>:<criterion>"). A competency with criteria
    ticked is assessed by criteria, even if its global box is ticked too."""
    learner = access.can_write_sheet(user, sheet)
    if not learner and not access.can_link_sheet(user, sheet):
        raise NotAllowed("Vous ne pouvez pas modifier les liens de cette fiche.")
    activities = framework_tree(framework_id) if framework_id is not None else []
    editor = _Editor(sheet, user, sheet_selection(sheet.id))
    changed = False
    if learner:
        wanted = _ints(ticks)
        for activity in activities:
            for task in activity.tasks:
                changed |= editor.tick(task, task.id in wanted)
        if changed:
            sheet.learner_updated_at = utcnow()
        db.session.flush()
        return changed
    wanted_tasks, wanted_comps, wanted_crits = _ints(tasks), _pairs(competencies), _pairs(criteria)
    for activity in activities:
        for task in activity.tasks:
            keep = task.id in wanted_tasks or any(
                k[0] == task.id for k in wanted_comps | wanted_crits
            )
            if not keep:
                changed |= editor.set_task(task, False)
                continue
            changed |= editor.confirm(task)
            for competency in task.competencies:
                chosen = [c for c in competency.criteria if (task.id, c.id) in wanted_crits]
                if chosen:
                    for criterion in competency.criteria:
                        changed |= editor.set_criterion(task, criterion, criterion in chosen)
                else:
                    changed |= editor.set_competency(
                        task, competency, (task.id, competency.id) in wanted_comps
                    )
    db.session.flush()
    return changed


def clear_sheet_links(sheet_id: int) -> None:
    """Forget every link of a sheet (used when a sheet changes framework)."""
    for model in (SheetCriterion, SheetCompetency, SheetTask):
        db.session.execute(delete(model).where(model.sheet_id == sheet_id))


# --- what the company assessment reads ------------------------------------------------------


@dataclass(frozen=True)
class SheetRef:
    """A sheet mobilised by the portfolio's links, with its reference number."""

    sheet_id: int
    number: int  # 1-based, the "[1]" of "Liste des fiches : [1] Fiche activité : semaine 24 …"
    title: str
    reviewed: bool  # a teacher confirmed a task or chose a competency/criterion on it


@dataclass
class TaskMark:
    sheet_ids: list[int] = field(default_factory=list)  # every sheet linking the task
    confirmed_sheet_ids: list[int] = field(default_factory=list)  # …that a teacher confirmed


@dataclass
class CompetencyMark:
    sheet_ids: list[int] = field(default_factory=list)  # every sheet choosing it, either mode
    global_sheet_ids: list[int] = field(default_factory=list)  # chose "compétence globale"
    criteria_sheet_ids: list[int] = field(default_factory=list)  # chose detailed criteria
    task_ids: list[int] = field(default_factory=list)  # through which tasks (framework order)

    @property
    def mode(self) -> str:
        """The default assessment mode the sheets suggest: "criteria" when any sheet chose
        detailed criteria for this competency, else "global"."""
        return CRITERIA if self.criteria_sheet_ids else GLOBAL


@dataclass
class CriterionMark:
    competency_id: int
    sheet_ids: list[int] = field(default_factory=list)


@dataclass
class PortfolioSelections:
    """Everything the sheets of one portfolio selected. All `sheet_ids` lists hold each sheet
    once, in reference order (the order of `sheets`)."""

    sheets: list[SheetRef] = field(default_factory=list)
    tasks: dict[int, TaskMark] = field(default_factory=dict)  # key: Task.id
    competencies: dict[int, CompetencyMark] = field(default_factory=dict)  # key: Competency.id
    criteria: dict[int, CriterionMark] = field(default_factory=dict)  # key: Criterion.id

    def number(self, sheet_id: int) -> int | None:
        """The reference number of a sheet ("[n]"), None if it selected nothing."""
        for ref in self.sheets:
            if ref.sheet_id == sheet_id:
                return ref.number
        return None

    def numbers(self, sheet_ids: Iterable[int]) -> list[int]:
        """Reference numbers of these sheets, e.g. for "C1 … [1] [3]"."""
        index = {ref.sheet_id: ref.number for ref in self.sheets}
        return [index[s] for s in sheet_ids if s in index]


def _append(target: list[int], value: int) -> None:
    if value not in target:
        target.append(value)


def selections_for_portfolio(portfolio_id: int) -> PortfolioSelections:
    """For every task, competency and criterion linked on the sheets of a portfolio: which
    sheets selected it (ids, in reference order) and, for competencies, which mode each chose.
    4 queries whatever the number of sheets.

    Returns a `PortfolioSelections`:
    - `sheets: list[SheetRef]` — the portfolio's sheets that carry at least one link (a task
      ticked by the learner or confirmed by a teacher, a competency or a criterion), ordered by
      the sheet order of the period (position, then id) and numbered 1, 2, 3… (`number`);
      `reviewed` tells whether a teacher made any choice on it (False = only learner ticks).
    - `tasks: dict[task_id, TaskMark]` — `sheet_ids` (learner ticks and teacher links) and
      `confirmed_sheet_ids` (the subset a teacher confirmed or added).
    - `competencies: dict[competency_id, CompetencyMark]` — `sheet_ids` (either mode),
      `global_sheet_ids`, `criteria_sheet_ids`, `task_ids`, and the property `mode`
      ("criteria" if any sheet chose detailed criteria, else "global").
    - `criteria: dict[criterion_id, CriterionMark]` — `competency_id` and `sheet_ids`.
    Items nobody selected are absent from the dicts. Helpers: `number(sheet_id)`,
    `numbers(sheet_ids)`.
    """
    sheets = list(
        db.session.execute(
            select(ActivitySheet.id, ActivitySheet.title)
            .where(ActivitySheet.portfolio_id == portfolio_id)
            .order_by(ActivitySheet.position, ActivitySheet.id)
        ).all()
    )
    order = {row.id: index for index, row in enumerate(sheets)}
    in_portfolio = select(ActivitySheet.id).where(ActivitySheet.portfolio_id == portfolio_id)
    result = PortfolioSelections()
    linked: set[int] = set()
    reviewed: set[int] = set()

    task_rows = sorted(
        db.session.execute(
            select(SheetTask.sheet_id, SheetTask.task_id, SheetTask.confirmed_at)
            .join(Task, Task.id == SheetTask.task_id)
            .where(SheetTask.sheet_id.in_(in_portfolio))
            .order_by(Task.position, Task.id)
        ).all(),
        key=lambda r: order[r.sheet_id],
    )
    for task_row in task_rows:
        mark = result.tasks.setdefault(task_row.task_id, TaskMark())
        _append(mark.sheet_ids, task_row.sheet_id)
        linked.add(task_row.sheet_id)
        if task_row.confirmed_at is not None:
            _append(mark.confirmed_sheet_ids, task_row.sheet_id)
            reviewed.add(task_row.sheet_id)

    comp_rows = db.session.execute(
        select(
            SheetCompetency.sheet_id,
            SheetCompetency.task_id,
            SheetCompetency.competency_id,
            SheetCompetency.mode,
        )
        .join(Task, Task.id == SheetCompetency.task_id)
        .where(SheetCompetency.sheet_id.in_(in_portfolio))
        .order_by(Task.position, Task.id)
    ).all()
    for comp_row in sorted(comp_rows, key=lambda r: order[r.sheet_id]):
        comp = result.competencies.setdefault(comp_row.competency_id, CompetencyMark())
        _append(comp.sheet_ids, comp_row.sheet_id)
        _append(
            comp.global_sheet_ids if comp_row.mode == GLOBAL else comp.criteria_sheet_ids,
            comp_row.sheet_id,
        )
        linked.add(comp_row.sheet_id)
        reviewed.add(comp_row.sheet_id)
    for comp_row in comp_rows:  # task order, not sheet order
        _append(result.competencies[comp_row.competency_id].task_ids, comp_row.task_id)

    crit_rows = db.session.execute(
        select(SheetCriterion.sheet_id, SheetCriterion.criterion_id, Criterion.competency_id)
        .join(Criterion, Criterion.id == SheetCriterion.criterion_id)
        .where(SheetCriterion.sheet_id.in_(in_portfolio))
    ).all()
    for crit_row in sorted(crit_rows, key=lambda r: order[r.sheet_id]):
        mark_c = result.criteria.setdefault(
            crit_row.criterion_id, CriterionMark(crit_row.competency_id)
        )
        _append(mark_c.sheet_ids, crit_row.sheet_id)
        linked.add(crit_row.sheet_id)
        reviewed.add(crit_row.sheet_id)

    number = 0
    for sheet_row in sheets:
        if sheet_row.id in linked:
            number += 1
            ref = SheetRef(sheet_row.id, number, sheet_row.title, sheet_row.id in reviewed)
            result.sheets.append(ref)
    return result
