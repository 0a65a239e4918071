"""The learner dashboard (tableau de bord, SPEC F9): per competency, the level reached in each
completed company assessment, period by period, and at school (interim reviews), with the
evidence (which sheets, which company); a coverage view of the criteria observed and never
observed. Built in a fixed number of queries whatever the number of periods and ratings.

`build_dashboard(learner, period_ids=None, source="all") -> Dashboard`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload, raiseload, selectinload

from app.extensions import db
from app.models import (
    AssessmentItem,
    AssessmentStatus,
    ClassGroup,
    Competency,
    Framework,
    InterimReview,
    InterimReviewPosition,
    ItemKind,
    Learner,
    Level,
    Period,
    Portfolio,
)
from app.services.assessments import (
    ScaleChoice,
    Selections,
    SheetRef,
    explicit_modes,
    load_selections,
    median_level,
    scale_of,
)

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


@dataclass
class CriterionLevel:
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


@dataclass
class CoverageCriterion:
    id: int
    code: str
    title: str
    observations: list[Observation] = field(default_factory=list)

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

    @property
    def observed(self) -> int:
        return sum(1 for c in self.criteria if c.observed)

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


def learner_framework(learner: Learner) -> tuple[int | None, str]:
    """The framework of the learner's level (1 query)."""
    row = db.session.execute(
        select(Level.framework_id, Level.name)
        .join(ClassGroup, ClassGroup.level_id == Level.id)
        .where(ClassGroup.id == learner.class_group_id)
    ).first()
    return (row[0], row[1]) if row else (None, "")


def completed_assessments(learner_id: int, framework_id: int | None) -> list[Portfolio]:
    """The learner's portfolios (period, level, liaison sheet, assessment), oldest period
    first: 1 query."""
    query = (
        select(Portfolio)
        .join(Period, Period.id == Portfolio.period_id)
        .join(Level, Level.id == Period.level_id)
        .where(Portfolio.learner_id == learner_id)
        .order_by(Period.start_date, Period.id)
        .options(
            contains_eager(Portfolio.period).contains_eager(Period.level),
            joinedload(Portfolio.liaison_sheet),
            joinedload(Portfolio.assessment),
            raiseload("*"),
        )
    )
    if framework_id is not None:
        query = query.where(Level.framework_id == framework_id)
    return list(db.session.scalars(query).unique())


def build_dashboard(
    learner: Learner, period_ids: set[int] | None = None, source: str = "all"
) -> Dashboard:
    """Everything the dashboard shows (13 queries at most, whatever the data size).

    `period_ids` keeps only those periods' assessments (None: all); `source` is "all",
    "company" (assessments only) or "school" (interim reviews only)."""
    source = source if source in SOURCES else "all"
    framework_id, _ = learner_framework(learner)
    portfolios = completed_assessments(learner.id, framework_id)
    if framework_id is None and portfolios:
        framework_id = portfolios[-1].period.level.framework_id
        portfolios = [p for p in portfolios if p.period.level.framework_id == framework_id]
    if framework_id is None:
        return Dashboard(learner, None, "", [], [], [], [], [], source)
    framework_title = _framework_title(framework_id)
    scale = scale_of(framework_id)
    levels = {choice.code: choice for choice in scale}
    competencies = list(
        db.session.scalars(
            select(Competency)
            .where(Competency.framework_id == framework_id)
            .order_by(Competency.position, Competency.id)
            .options(selectinload(Competency.criteria).raiseload("*"), raiseload("*"))
        )
    )
    completed = [
        p
        for p in portfolios
        if p.assessment is not None and p.assessment.status == AssessmentStatus.COMPLETED
    ]
    periods = [
        PeriodChoice(
            p.period.id,
            p.period.name,
            p.period.start_date,
            p.period.end_date,
            p in completed,
            period_ids is None or p.period.id in period_ids,
        )
        for p in portfolios
    ]
    shown = [p for p in completed if period_ids is None or p.period.id in period_ids]
    if source == "school":
        shown = []
    assessment_ids = [p.assessment.id for p in shown if p.assessment is not None]
    items = _items(assessment_ids)
    modes = explicit_modes(assessment_ids)
    selections = load_selections([p.id for p in shown])
    reviews = [] if source == "company" else _reviews(learner.id)

    columns: list[Column] = []
    for p in shown:
        assert p.assessment is not None
        mine = items.get(p.assessment.id, {})
        meeting = _date(mine.get(ItemKind.MEETING_DATE)) or p.period.end_date
        engagement = mine.get(ItemKind.ENGAGEMENT)
        columns.append(
            Column(
                key=f"a{p.assessment.id}",
                source="company",
                label=p.period.name,
                day=meeting,
                period_id=p.period.id,
                portfolio_id=p.id,
                assessment_id=p.assessment.id,
                start_date=p.period.start_date,
                end_date=p.period.end_date,
                company=_company(p),
                engagement=int(engagement) if engagement and engagement.isdigit() else 0,
                comment=mine.get(ItemKind.COMMENT) or "",
                sheets=selections[p.id].sheets,
            )
        )
    for review, _ in reviews:
        columns.append(
            Column(
                key=f"r{review.id}",
                source="school",
                label="Bilan intermédiaire",
                day=review.review_date,
                review_id=review.id,
                comment=review.comment,
            )
        )
    columns.sort(key=lambda c: (c.day, c.source != "company"))

    by_key = {p.assessment.id: p for p in shown if p.assessment is not None}
    positions = {review.id: by_competency for review, by_competency in reviews}
    lines: list[CompetencyLine] = []
    coverage: list[CoverageGroup] = []
    for competency in competencies:
        cells: list[Cell] = []
        group = CoverageGroup(
            competency.id,
            competency.code,
            competency.title,
            [CoverageCriterion(c.id, c.code, c.title) for c in competency.criteria],
        )
        by_criterion = {c.id: c for c in group.criteria}
        for column in columns:
            if column.source == "school":
                assert column.review_id is not None
                position = positions[column.review_id].get(competency.id)
                cells.append(
                    Cell(
                        level=levels.get(position.value or "") if position else None,
                        mode="school",
                        note=position.comment if position else "",
                    )
                )
                continue
            assert column.assessment_id is not None
            portfolio = by_key[column.assessment_id]
            mine = items.get(column.assessment_id, {})
            selection: Selections = selections[portfolio.id]
            mode = (
                modes.get((column.assessment_id, competency.id))
                or (selection.default_mode(competency.id)[0])
            )
            cell = Cell(
                mode=mode,
                evidence=[
                    ref
                    for ref in selection.sheets
                    if ref.sheet_id in selection.competencies.get(competency.id, set())
                ],
            )
            if mode == "global":
                cell.level = levels.get(mine.get(f"competency:{competency.id}") or "")
                if cell.level is not None and cell.level.observed:
                    group.global_observations.append(
                        Observation(column.company, column.label, cell.level)
                    )
            else:
                for criterion in competency.criteria:
                    level = levels.get(mine.get(f"criterion:{criterion.id}") or "")
                    if level is None:
                        continue
                    cell.criteria.append(CriterionLevel(criterion.code, criterion.title, level))
                    if level.observed:
                        by_criterion[criterion.id].observations.append(
                            Observation(column.company, column.label, level)
                        )
                cell.level = median_level(c.level for c in cell.criteria)
            cells.append(cell)
        lines.append(CompetencyLine(competency.id, competency.code, competency.title, cells))
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


def _framework_title(framework_id: int) -> str:
    return str(db.session.scalar(select(Framework.title).where(Framework.id == framework_id)) or "")


def _items(assessment_ids: list[int]) -> dict[int, dict[str, str | None]]:
    """Current values of the items of several assessments: 1 query."""
    result: dict[int, dict[str, str | None]] = {}
    if not assessment_ids:
        return result
    rows = db.session.execute(
        select(AssessmentItem.assessment_id, AssessmentItem.item_key, AssessmentItem.value).where(
            AssessmentItem.assessment_id.in_(assessment_ids)
        )
    )
    for assessment_id, key, value in rows:
        result.setdefault(assessment_id, {})[key] = value
    return result


def _reviews(learner_id: int) -> list[tuple[InterimReview, dict[int, InterimReviewPosition]]]:
    """The learner's interim reviews and their positions by competency: 2 queries, always."""
    reviews = list(
        db.session.scalars(
            select(InterimReview)
            .where(InterimReview.learner_id == learner_id)
            .order_by(InterimReview.review_date, InterimReview.id)
            .options(raiseload("*"))
        )
    )
    positions: dict[int, dict[int, InterimReviewPosition]] = {r.id: {} for r in reviews}
    for position in db.session.scalars(
        select(InterimReviewPosition)
        .join(InterimReview, InterimReview.id == InterimReviewPosition.review_id)
        .where(InterimReview.learner_id == learner_id)
    ):
        positions[position.review_id][position.competency_id] = position
    return [(review, positions[review.id]) for review in reviews]


def _company(portfolio: Portfolio) -> str:
    liaison = portfolio.liaison_sheet
    return (liaison.company_name if liaison else "") or "Entreprise non renseignée"


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
