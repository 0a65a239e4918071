"""Synthèse des formations en entreprise pour tous les apprenants d'un niveau: per learner,
every period of the level with its company, weeks, sheets written and assessment status.

The page and its PDF show the same `LevelSynthesis`, loaded in 5 queries whatever the number
of learners, periods or sheets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import contains_eager, joinedload, raiseload, selectinload

from app import timefmt
from app.extensions import db
from app.models import ActivitySheet, Assessment, Learner, Level, Period, Portfolio
from app.models.assessment import AssessmentStatus
from app.services.navigation import learners_of_level

STATUS_LABELS = {
    None: "Non commencé",
    AssessmentStatus.DRAFT: "En cours",
    AssessmentStatus.COMPLETED: "Complété",
}


@dataclass
class PlacementLine:
    """One learner in one period."""

    portfolio_id: int
    period: Period
    company: str
    tutor: str
    weeks: int
    sheets_written: int
    sheets_total: int
    assessment_status: str | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.assessment_status, self.assessment_status or "")


@dataclass
class LearnerLine:
    learner: Learner
    placements: list[PlacementLine] = field(default_factory=list)

    @property
    def total_weeks(self) -> int:
        return sum(p.weeks for p in self.placements)

    @property
    def total_written(self) -> int:
        return sum(p.sheets_written for p in self.placements)

    @property
    def completed_assessments(self) -> int:
        return sum(1 for p in self.placements if p.assessment_status == AssessmentStatus.COMPLETED)


@dataclass
class LevelSynthesis:
    level: Level
    periods: list[Period]
    learners: list[LearnerLine]
    generated_on: date

    @property
    def placement_count(self) -> int:
        return sum(len(line.placements) for line in self.learners)


def load_level_synthesis(level: Level) -> LevelSynthesis:
    """Every learner of the level (and anyone placed in one of its periods since then left
    it), with their placements in the level's periods: 5 queries."""
    learners = {learner.id: LearnerLine(learner) for learner in learners_of_level(level.id)}
    portfolios = list(
        db.session.scalars(
            select(Portfolio)
            .join(Period, Portfolio.period_id == Period.id)
            .where(Period.level_id == level.id)
            .order_by(Period.start_date, Period.id)
            .options(
                contains_eager(Portfolio.period),
                joinedload(Portfolio.learner).joinedload(Learner.class_group),
                selectinload(Portfolio.liaison_sheet),
                selectinload(Portfolio.tutor),
                raiseload("*"),
            )
        ).unique()
    )
    counts = _sheet_counts([p.id for p in portfolios])
    statuses = _assessment_statuses([p.id for p in portfolios])
    periods: dict[int, Period] = {}
    for portfolio in portfolios:
        period = portfolio.period
        periods.setdefault(period.id, period)
        line = learners.get(portfolio.learner_id)
        if line is None:
            line = learners[portfolio.learner_id] = LearnerLine(portfolio.learner)
        written, total = counts.get(portfolio.id, (0, 0))
        line.placements.append(
            PlacementLine(
                portfolio_id=portfolio.id,
                period=period,
                company=_company(portfolio),
                tutor=portfolio.tutor.full_name if portfolio.tutor else "",
                weeks=len(timefmt.iso_weeks(period.start_date, period.end_date)),
                sheets_written=written,
                sheets_total=total,
                assessment_status=statuses.get(portfolio.id),
            )
        )
    ordered = sorted(learners.values(), key=lambda line: line.learner.sort_name.lower())
    return LevelSynthesis(
        level=level,
        periods=sorted(periods.values(), key=lambda p: (p.start_date, p.id)),
        learners=ordered,
        generated_on=date.today(),
    )


def _company(portfolio: Portfolio) -> str:
    sheet = portfolio.liaison_sheet
    if sheet is not None and sheet.company_name.strip():
        return sheet.company_name.strip()
    if portfolio.tutor is not None and portfolio.tutor.company_name:
        return portfolio.tutor.company_name
    return ""


def _sheet_counts(portfolio_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(written, total) sheets per portfolio; "written" is ActivitySheet.is_written in SQL."""
    if not portfolio_ids:
        return {}
    text: ColumnElement[str] = func.coalesce(ActivitySheet.description, "")
    for blank in (" ", "\n", "\r", "\t"):  # str.strip() in SQL, portable to SQLite and PG
        text = func.replace(text, blank, "")
    written = func.sum(case((func.length(text) > 0, 1), else_=0))
    rows = db.session.execute(
        select(ActivitySheet.portfolio_id, written, func.count(ActivitySheet.id))
        .where(ActivitySheet.portfolio_id.in_(portfolio_ids))
        .group_by(ActivitySheet.portfolio_id)
    ).all()
    return {pid: (int(w or 0), int(t)) for pid, w, t in rows if pid is not None}


def _assessment_statuses(portfolio_ids: list[int]) -> dict[int, str]:
    if not portfolio_ids:
        return {}
    rows = db.session.execute(
        select(Assessment.portfolio_id, Assessment.status).where(
            Assessment.portfolio_id.in_(portfolio_ids)
        )
    ).all()
    return {pid: status for pid, status in rows}
