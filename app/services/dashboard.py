"""The learner dashboard (tableau de bord, SPEC F9): per competency, the level reached in each
completed company assessment, period by period, and at school (interim reviews), with the
evidence (which sheets, which company); a coverage view of the criteria observed and never
observed. Built in a fixed number of queries whatever the number of periods and ratings.

`build_dashboard(learner, period_ids=None, source="all") -> Dashboard`.

The page is read-only and shown often: its statements are built once, here, with bound
parameters, and select the columns it shows (Row tuples, no ORM entities): six statements at
most (seven when the learner has no class), where one join or UNION ALL replaces what used to
be several queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    cast,
    exists,
    literal,
    null,
    select,
    union_all,
)

from app.extensions import db
from app.models import (
    ActivitySheet,
    Assessment,
    AssessmentCompetencyMode,
    AssessmentItem,
    AssessmentStatus,
    ClassGroup,
    Competency,
    Criterion,
    Framework,
    InterimReview,
    InterimReviewPosition,
    ItemKind,
    Learner,
    Level,
    LiaisonSheet,
    Period,
    Portfolio,
    ScaleLevel,
    SheetCompetency,
    SheetCriterion,
    SheetTask,
)
from app.services.assessments import ScaleChoice, SheetRef, median_level, safe_color

SOURCES = {"all": "Toutes les sources", "company": "En entreprise", "school": "À l'école"}


@dataclass
class Column:
    """One source of levels: a completed company assessment, or an interim review."""

    key: str  # "a<assessment id>" or "r<review id>"
    source: str  # "company" | "school"
    label: str
    day: date  # meeting date, or review date
    period_id: int | None = None
    portfolio_id: int | None = None
    assessment_id: int | None = None
    review_id: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    company: str = ""
    engagement: int = 0
    comment: str = ""
    sheets: list[SheetRef] = field(default_factory=list)


class CriterionLevel(NamedTuple):
    """A rated criterion in a cell (a tuple: the page unpacks it, a hundred times and more)."""

    code: str
    title: str
    level: ScaleChoice


@dataclass
class Cell:
    """A competency in one column: its level (the global rating, the median of its rated
    criteria, or the teacher's positioning) and the evidence behind it."""

    level: ScaleChoice | None = None
    mode: str = ""  # "global" | "criteria" | "school"
    criteria: list[CriterionLevel] = field(default_factory=list)
    evidence: list[SheetRef] = field(default_factory=list)  # sheets that selected it
    note: str = ""  # the interim review's comment

    @property
    def empty(self) -> bool:
        return self.level is None and not self.criteria


@dataclass
class CompetencyLine:
    id: int
    code: str
    title: str
    cells: list[Cell]

    @property
    def latest(self) -> ScaleChoice | None:
        for cell in reversed(self.cells):
            if cell.level is not None:
                return cell.level
        return None


@dataclass
class Observation:
    company: str
    period: str
    level: ScaleChoice


class CoverageCriterion(NamedTuple):
    """A criterion of the coverage view. A tuple whose first three fields are what the page
    shows, unpacked in its loop over every criterion of the framework (180 in the Bac Pro
    MEE)."""

    code: str
    title: str
    seen_at: str  # "Électricité Martin (PFMP 1, 3), Bâtiments Durand (PFMP 2, 4)"; "": never
    id: int
    observations: list[Observation]

    @property
    def observed(self) -> bool:
        return bool(self.observations)

    @property
    def companies(self) -> list[str]:
        seen: list[str] = []
        for obs in self.observations:
            if obs.company not in seen:
                seen.append(obs.company)
        return seen


@dataclass
class CoverageGroup:
    id: int
    code: str
    title: str
    criteria: list[CoverageCriterion]
    global_observations: list[Observation] = field(default_factory=list)
    observed: int = 0  # criteria observed at least once

    @property
    def never(self) -> list[CoverageCriterion]:
        return [c for c in self.criteria if not c.observed]


@dataclass
class PeriodChoice:
    id: int
    name: str
    start_date: date
    end_date: date
    completed: bool
    selected: bool


@dataclass
class Dashboard:
    learner: Learner
    framework_id: int | None
    framework_title: str
    scale: list[ScaleChoice]
    columns: list[Column]
    lines: list[CompetencyLine]
    coverage: list[CoverageGroup]
    periods: list[PeriodChoice]
    source: str

    @property
    def observed_count(self) -> int:
        return sum(group.observed for group in self.coverage)

    @property
    def criteria_count(self) -> int:
        return sum(len(group.criteria) for group in self.coverage)

    @property
    def company_columns(self) -> list[Column]:
        return [c for c in self.columns if c.source == "company"]


# --- statements, built once -----------------------------------------------------------------

_CLASS_LEVEL = (
    select(Level.framework_id, Level.name)
    .join(ClassGroup, ClassGroup.level_id == Level.id)
    .where(ClassGroup.id == bindparam("class_group_id"))
)


def _framework_and_scale(framework_id: Any) -> Any:
    """The framework's id and title with its scale, one row per level."""
    return (
        select(
            Framework.id,
            Framework.title,
            ScaleLevel.position,
            ScaleLevel.code,
            ScaleLevel.label,
            ScaleLevel.color,
        )
        .outerjoin(ScaleLevel, ScaleLevel.framework_id == Framework.id)
        .where(Framework.id == framework_id)
        .order_by(ScaleLevel.position)
    )


# The framework of the learner's level; when the learner has no class, of a given framework.
_CLASS_FRAMEWORK = _framework_and_scale(
    select(Level.framework_id)
    .join(ClassGroup, ClassGroup.level_id == Level.id)
    .where(ClassGroup.id == bindparam("class_group_id"))
    .scalar_subquery()
)
_FRAMEWORK = _framework_and_scale(bindparam("framework_id"))

# The learner's portfolios, oldest period first, with their company and assessment.
_PORTFOLIOS = (
    select(
        Portfolio.id,
        Period.id.label("period_id"),
        Period.name,
        Period.start_date,
        Period.end_date,
        Level.framework_id,
        LiaisonSheet.company_name,
        Assessment.id.label("assessment_id"),
        Assessment.status,
    )
    .join(Period, Period.id == Portfolio.period_id)
    .join(Level, Level.id == Period.level_id)
    .outerjoin(LiaisonSheet, LiaisonSheet.portfolio_id == Portfolio.id)
    .outerjoin(Assessment, Assessment.portfolio_id == Portfolio.id)
    .where(Portfolio.learner_id == bindparam("learner_id"))
    .order_by(Period.start_date, Period.id)
)

# The framework's competencies, each with its criteria (one row per criterion).
_COMPETENCIES = (
    select(
        Competency.id,
        Competency.code,
        Competency.title,
        Criterion.id.label("criterion_id"),
        Criterion.code.label("criterion_code"),
        Criterion.title.label("criterion_title"),
    )
    .outerjoin(Criterion, Criterion.competency_id == Competency.id)
    .where(Competency.framework_id == bindparam("framework_id"))
    .order_by(Competency.position, Competency.id, Criterion.position, Criterion.id)
)

# The current values of the assessments' items, and the modes toggled on them (rows with a
# competency id), in one statement.
_ITEMS_AND_MODES: Any = union_all(
    select(
        AssessmentItem.assessment_id,
        AssessmentItem.item_key,
        AssessmentItem.value,
        cast(null(), Integer).label("competency_id"),
    ).where(AssessmentItem.assessment_id.in_(bindparam("assessment_ids", expanding=True))),
    select(
        AssessmentCompetencyMode.assessment_id,
        cast(null(), String),
        AssessmentCompetencyMode.mode,
        AssessmentCompetencyMode.competency_id,
    ).where(
        AssessmentCompetencyMode.assessment_id.in_(bindparam("assessment_ids", expanding=True))
    ),
)


def _sheet_links() -> Any:
    """What the portfolios' sheets selected, one row per (sheet, competency, mode), and a row
    without competency for a sheet with a ticked task; in sheet order (portfolio, position).
    The rules of `assessments.load_selections` (a sheet counts, and is numbered, when it
    selected anything; a competency is selected directly or through one of its criteria),
    in one statement instead of four."""
    sheet = (
        ActivitySheet.portfolio_id,
        ActivitySheet.position,
        ActivitySheet.id,
        ActivitySheet.title,
        ActivitySheet.company,
    )
    in_portfolios = ActivitySheet.portfolio_id.in_(bindparam("portfolio_ids", expanding=True))
    links = union_all(
        select(*sheet, SheetCompetency.competency_id, SheetCompetency.mode)
        .join(SheetCompetency, SheetCompetency.sheet_id == ActivitySheet.id)
        .where(in_portfolios)
        .distinct(),
        select(*sheet, Criterion.competency_id, literal("criteria", String))
        .join(SheetCriterion, SheetCriterion.sheet_id == ActivitySheet.id)
        .join(Criterion, Criterion.id == SheetCriterion.criterion_id)
        .where(in_portfolios)
        .distinct(),
        select(*sheet, cast(null(), Integer), cast(null(), String)).where(
            in_portfolios, exists().where(SheetTask.sheet_id == ActivitySheet.id)
        ),
    )
    by = links.selected_columns
    return links.order_by(by.portfolio_id, by.position, by.id)


_SHEET_LINKS = _sheet_links()

# The learner's interim reviews, oldest first, with their positions (one row per position).
_REVIEWS = (
    select(
        InterimReview.id,
        InterimReview.review_date,
        InterimReview.comment,
        InterimReviewPosition.competency_id,
        InterimReviewPosition.value,
        InterimReviewPosition.comment.label("note"),
    )
    .outerjoin(InterimReviewPosition, InterimReviewPosition.review_id == InterimReview.id)
    .where(InterimReview.learner_id == bindparam("learner_id"))
    .order_by(InterimReview.review_date, InterimReview.id)
)


# --- reading --------------------------------------------------------------------------------


def learner_framework(learner: Learner) -> tuple[int | None, str]:
    """The framework of the learner's level, and the level's name (1 query)."""
    row = db.session.execute(_CLASS_LEVEL, {"class_group_id": learner.class_group_id}).first()
    return (row[0], row[1]) if row else (None, "")


@dataclass
class _Competency:
    id: int
    code: str
    title: str
    criteria: list[tuple[int, str, str, str]]  # id, code, title, item key


@dataclass
class _Selection:
    """What one portfolio's sheets selected: the numbered sheets, and by competency the
    sheets that selected it and whether one chose it by criteria."""

    sheets: list[SheetRef] = field(default_factory=list)
    evidence: dict[int, list[SheetRef]] = field(default_factory=dict)
    by_criteria: set[int] = field(default_factory=set)


@dataclass
class _Review:
    id: int
    day: date
    comment: str
    positions: dict[int, tuple[str | None, str]]  # competency id → (level code, note)


def _scale(rows: Sequence[Any]) -> tuple[str, list[ScaleChoice]]:
    scale = [
        ScaleChoice(
            position=position,
            code=code,
            label=label,
            color=safe_color(color),
        )
        for _, _, position, code, label, color in rows
        if code is not None
    ]
    return (str(rows[0].title or "") if rows else ""), scale


def build_dashboard(
    learner: Learner, period_ids: set[int] | None = None, source: str = "all"
) -> Dashboard:
    """Everything the dashboard shows (6 queries at most, 7 for a learner without a class,
    whatever the data size).

    `period_ids` keeps only those periods' assessments (None: all); `source` is "all",
    "company" (assessments only) or "school" (interim reviews only)."""
    source = source if source in SOURCES else "all"
    framework_rows = db.session.execute(
        _CLASS_FRAMEWORK, {"class_group_id": learner.class_group_id}
    ).all()
    framework_id: int | None = framework_rows[0].id if framework_rows else None
    portfolios = db.session.execute(_PORTFOLIOS, {"learner_id": learner.id}).all()
    if framework_id is None and portfolios:
        framework_id = portfolios[-1].framework_id
        framework_rows = db.session.execute(_FRAMEWORK, {"framework_id": framework_id}).all()
    if framework_id is None:
        return Dashboard(learner, None, "", [], [], [], [], [], source)
    portfolios = [p for p in portfolios if p.framework_id == framework_id]
    framework_title, scale = _scale(framework_rows)
    levels = {choice.code: choice for choice in scale}
    competencies = _competencies(framework_id)

    periods: list[PeriodChoice] = []
    shown = []
    for p in portfolios:
        completed = p.assessment_id is not None and p.status == AssessmentStatus.COMPLETED
        selected = period_ids is None or p.period_id in period_ids
        periods.append(
            PeriodChoice(p.period_id, p.name, p.start_date, p.end_date, completed, selected)
        )
        if completed and selected and source != "school":
            shown.append(p)
    items, modes = _items_and_modes([p.assessment_id for p in shown])
    selections = _selections([p.id for p in shown])
    reviews = [] if source == "company" else _reviews(learner.id)

    columns: list[Column] = []
    for p in shown:
        mine = items.get(p.assessment_id, {})
        engagement = mine.get(ItemKind.ENGAGEMENT)
        columns.append(
            Column(
                key=f"a{p.assessment_id}",
                source="company",
                label=p.name,
                day=_date(mine.get(ItemKind.MEETING_DATE)) or p.end_date,
                period_id=p.period_id,
                portfolio_id=p.id,
                assessment_id=p.assessment_id,
                start_date=p.start_date,
                end_date=p.end_date,
                company=p.company_name or "Entreprise non renseignée",
                engagement=int(engagement) if engagement and engagement.isdigit() else 0,
                comment=mine.get(ItemKind.COMMENT) or "",
                sheets=selections[p.id].sheets,
            )
        )
    for review in reviews:
        columns.append(
            Column(
                key=f"r{review.id}",
                source="school",
                label="Bilan intermédiaire",
                day=review.day,
                review_id=review.id,
                comment=review.comment,
            )
        )
    columns.sort(key=lambda c: (c.day, c.source != "company"))

    # What each column needs, looked up once rather than per cell.
    sources: list[Any] = []
    for column in columns:
        if column.source == "school":
            sources.append(next(r for r in reviews if r.id == column.review_id).positions)
        else:
            assert column.assessment_id is not None and column.portfolio_id is not None
            sources.append(
                (
                    column,
                    items.get(column.assessment_id, {}),
                    selections[column.portfolio_id],
                    column.assessment_id,
                )
            )

    lines: list[CompetencyLine] = []
    coverage: list[CoverageGroup] = []
    for competency in competencies:
        cid = competency.id
        observations: list[list[Observation]] = [[] for _ in competency.criteria]
        group = CoverageGroup(cid, competency.code, competency.title, [])
        cells: list[Cell] = []
        for column_source in sources:
            if isinstance(column_source, dict):  # an interim review's positions
                value, note = column_source.get(cid, (None, ""))
                cells.append(Cell(level=levels.get(value or ""), mode="school", note=note))
                continue
            column, mine, selection, assessment_id = column_source
            mode = modes.get((assessment_id, cid)) or (
                "criteria" if cid in selection.by_criteria else "global"
            )
            cell = Cell(mode=mode, evidence=selection.evidence.get(cid, []))
            if mode == "global":
                cell.level = levels.get(mine.get(f"competency:{cid}") or "")
                if cell.level is not None and cell.level.observed:
                    group.global_observations.append(
                        Observation(column.company, column.label, cell.level)
                    )
            else:
                for (_, code, title, key), seen in zip(
                    competency.criteria, observations, strict=True
                ):
                    level = levels.get(mine.get(key) or "")
                    if level is None:
                        continue
                    cell.criteria.append(CriterionLevel(code, title, level))
                    if level.observed:
                        seen.append(Observation(column.company, column.label, level))
                cell.level = median_level(c.level for c in cell.criteria)
            cells.append(cell)
        _coverage_criteria(group, competency, observations)
        lines.append(CompetencyLine(cid, competency.code, competency.title, cells))
        coverage.append(group)
    return Dashboard(
        learner=learner,
        framework_id=framework_id,
        framework_title=framework_title,
        scale=scale,
        columns=columns,
        lines=lines,
        coverage=coverage,
        periods=periods,
        source=source,
    )


def _coverage_criteria(
    group: CoverageGroup, competency: _Competency, observations: list[list[Observation]]
) -> None:
    """The group's criteria, now that every column added its observations."""
    for (criterion_id, code, title, _), seen in zip(competency.criteria, observations, strict=True):
        seen_at = ""
        if seen:
            seen_at = ", ".join(f"{o.company} ({o.period}, {o.level.code})" for o in seen)
            group.observed += 1
        group.criteria.append(CoverageCriterion(code, title, seen_at, criterion_id, seen))


def _competencies(framework_id: int) -> list[_Competency]:
    """The framework's competencies and their criteria, in order: 1 query."""
    result: list[_Competency] = []
    for cid, code, title, criterion_id, criterion_code, criterion_title in db.session.execute(
        _COMPETENCIES, {"framework_id": framework_id}
    ).all():
        if not result or result[-1].id != cid:
            result.append(_Competency(cid, code, title, []))
        if criterion_id is not None:
            result[-1].criteria.append(
                (criterion_id, criterion_code, criterion_title, f"criterion:{criterion_id}")
            )
    return result


def _items_and_modes(
    assessment_ids: list[int],
) -> tuple[dict[int, dict[str, str | None]], dict[tuple[int, int], str]]:
    """Current values of the items of several assessments, and the modes toggled on them
    ({(assessment id, competency id): mode}; competencies absent from it follow the sheets'
    choice): 1 query."""
    items: dict[int, dict[str, str | None]] = {aid: {} for aid in assessment_ids}
    modes: dict[tuple[int, int], str] = {}
    if not assessment_ids:
        return items, modes
    for assessment_id, key, value, competency_id in db.session.execute(
        _ITEMS_AND_MODES, {"assessment_ids": assessment_ids}
    ).all():
        if competency_id is None:
            items[assessment_id][key] = value
        else:
            modes[(assessment_id, competency_id)] = value
    return items, modes


def _selections(portfolio_ids: list[int]) -> dict[int, _Selection]:
    """What the sheets of several portfolios selected (numbering and rules of
    `assessments.load_selections`): 1 query."""
    result = {pid: _Selection() for pid in portfolio_ids}
    if not portfolio_ids:
        return result
    ref: SheetRef | None = None
    for pid, _, sheet_id, title, company, competency_id, mode in db.session.execute(
        _SHEET_LINKS, {"portfolio_ids": portfolio_ids}
    ).all():
        selection = result[pid]
        if ref is None or ref.sheet_id != sheet_id:  # a sheet's rows come together
            ref = SheetRef(len(selection.sheets) + 1, sheet_id, title, company)
            selection.sheets.append(ref)
        if competency_id is None:
            continue
        evidence = selection.evidence.setdefault(competency_id, [])
        if not evidence or evidence[-1] is not ref:
            evidence.append(ref)
        if mode == "criteria":
            selection.by_criteria.add(competency_id)
    return result


def _reviews(learner_id: int) -> list[_Review]:
    """The learner's interim reviews and their positions by competency: 1 query."""
    reviews: list[_Review] = []
    for review_id, day, comment, competency_id, value, note in db.session.execute(
        _REVIEWS, {"learner_id": learner_id}
    ).all():
        if not reviews or reviews[-1].id != review_id:
            reviews.append(_Review(review_id, day, comment, {}))
        if competency_id is not None:
            reviews[-1].positions[competency_id] = (value, note)
    return reviews


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


__all__ = [
    "SOURCES",
    "Cell",
    "Column",
    "CompetencyLine",
    "CoverageGroup",
    "Dashboard",
    "build_dashboard",
]
