"""Synthèse des PFMP: every period of one learner, as a PDF (SPEC F10).

Per period: company and tutor, dates and number of weeks, the activities and tasks covered
(what the sheets selected, read through `framework_links.selections_for_portfolio`, the
sheets engineer's API), and — for a completed assessment only — the results by competency,
engagement and comment as `assessments.build_grid` presents them on the assessment page. A
draft assessment is announced, not shown: its ratings may still change (and the learner may
not see it).

Queries: 5 for the learner's portfolios and the framework's tasks, then per period 4 for the
selections and, for a completed assessment, the grid's 13 — a learner has a handful of
periods, so the document stays well under a second of database time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload, raiseload, selectinload

from app import timefmt
from app.extensions import db
from app.models import Activity, Learner, Period, Portfolio, Task, VisitReport
from app.services import assessments, framework_links, visits
from app.services.assessments import AssessmentGrid, ScaleChoice
from app.services.documents import SchoolIdentity, school_identity
from app.services.documents.pdf import render_pdf


@dataclass
class CoveredTask:
    code: str
    title: str
    confirmed: bool  # a teacher confirmed or added it (else only ticked by the learner)
    sheet_numbers: list[int]


@dataclass
class CoveredActivity:
    code: str
    title: str
    tasks: list[CoveredTask] = field(default_factory=list)


@dataclass
class CompetencyResult:
    code: str
    title: str
    mode: str  # "global" | "criteria"
    level: ScaleChoice | None
    criteria: list[tuple[str, str, ScaleChoice]]  # (code, title, level) rated criteria


@dataclass
class PeriodSummary:
    period: Period
    company: str
    company_address: str
    tutor: str
    tutor_kind: str
    weeks: int
    sheets_count: int  # sheets mobilised (selecting something)
    activities: list[CoveredActivity]
    assessment_status: str | None
    results: list[CompetencyResult] = field(default_factory=list)
    engagement: int = 0
    comment: str = ""
    meeting_date: date | None = None
    scale: list[ScaleChoice] = field(default_factory=list)
    visit_report: VisitReport | None = None

    @property
    def completed(self) -> bool:
        return self.assessment_status == "completed"


@dataclass
class PlacementSummary:
    learner: Learner
    school: SchoolIdentity
    periods: list[PeriodSummary]
    generated_on: date

    @property
    def total_weeks(self) -> int:
        return sum(p.weeks for p in self.periods)


def load_placement_summary(learner: Learner) -> PlacementSummary:
    portfolios = list(
        db.session.scalars(
            select(Portfolio)
            .join(Period, Portfolio.period_id == Period.id)
            .where(Portfolio.learner_id == learner.id)
            .order_by(Period.start_date, Period.id)
            .options(
                contains_eager(Portfolio.period),
                selectinload(Portfolio.liaison_sheet),
                selectinload(Portfolio.tutor),
                selectinload(Portfolio.assessment),
                raiseload("*"),
            )
        ).unique()
    )
    selections = {p.id: framework_links.selections_for_portfolio(p.id) for p in portfolios}
    task_ids = {task_id for sel in selections.values() for task_id in sel.tasks}
    tasks = _tasks_by_id(task_ids)
    periods = [
        _period_summary(portfolio, selections[portfolio.id], tasks) for portfolio in portfolios
    ]
    reports = visits.reports_for([p.id for p in portfolios])
    for portfolio, summary in zip(portfolios, periods, strict=True):
        summary.visit_report = reports.get(portfolio.id)
    return PlacementSummary(learner, school_identity(), periods, date.today())


def _tasks_by_id(task_ids: set[int]) -> dict[int, Task]:
    if not task_ids:
        return {}
    rows = db.session.scalars(
        select(Task).where(Task.id.in_(task_ids)).options(joinedload(Task.activity), raiseload("*"))
    )
    return {task.id: task for task in rows}


def _period_summary(
    portfolio: Portfolio, selections: framework_links.PortfolioSelections, tasks: dict[int, Task]
) -> PeriodSummary:
    period, liaison, tutor = portfolio.period, portfolio.liaison_sheet, portfolio.tutor
    company = (liaison.company_name if liaison else "") or (tutor.company_name if tutor else "")
    summary = PeriodSummary(
        period=period,
        company=company or "",
        company_address=(liaison.company_address if liaison else "") or "",
        tutor=tutor.full_name if tutor else ((liaison.tutor_name if liaison else "") or ""),
        tutor_kind=tutor.kind_label if tutor else "",
        weeks=len(timefmt.iso_weeks(period.start_date, period.end_date)),
        sheets_count=len(selections.sheets),
        activities=_covered(selections, tasks),
        assessment_status=portfolio.assessment.status if portfolio.assessment else None,
    )
    if portfolio.assessment is not None and portfolio.assessment.is_completed:
        _add_results(summary, assessments.build_grid(portfolio.assessment))
    return summary


def _covered(
    selections: framework_links.PortfolioSelections, tasks: dict[int, Task]
) -> list[CoveredActivity]:
    """Tasks the sheets selected, grouped by activity, both in framework order."""
    chosen = sorted(
        (tasks[task_id] for task_id in selections.tasks if task_id in tasks),
        key=lambda t: (t.activity.position, t.activity.id, t.position, t.id),
    )
    groups: dict[int, CoveredActivity] = {}
    for task in chosen:
        activity: Activity = task.activity
        group = groups.setdefault(activity.id, CoveredActivity(activity.code, activity.title))
        mark = selections.tasks[task.id]
        group.tasks.append(
            CoveredTask(
                task.code,
                task.title,
                confirmed=bool(mark.confirmed_sheet_ids),
                sheet_numbers=selections.numbers(mark.sheet_ids),
            )
        )
    return list(groups.values())


def _add_results(summary: PeriodSummary, grid: AssessmentGrid) -> None:
    """Competencies with a result in the mode in force, as the assessment page shows them."""
    summary.scale = grid.scale
    for row in grid.competencies:
        rated: list[tuple[str, str, ScaleChoice]] = []
        for criterion in row.criteria:
            if criterion.item.level is not None:
                rated.append((criterion.code, criterion.title, criterion.item.level))
        if row.level is None and not (row.mode == "criteria" and rated):
            continue
        summary.results.append(
            CompetencyResult(
                row.code,
                row.title,
                row.mode,
                row.level,
                rated if row.mode == "criteria" else [],
            )
        )
    summary.engagement = grid.engagement_stars
    summary.comment = (grid.comment.value or "").strip()
    summary.meeting_date = grid.meeting_date_value


def placement_summary_pdf(learner: Learner) -> bytes:
    summary = load_placement_summary(learner)
    return render_pdf(
        "documents/placement_summary.html",
        logo=summary.school.logo,
        school=summary.school,
        summary=summary,
    )
