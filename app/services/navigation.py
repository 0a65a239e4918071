"""What the shell shows: the menu of a level and the period / learner work pages.

Each loader runs a fixed number of queries whatever the number of learners or sheets
(list views use raiseload so an N+1 fails loudly in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload, raiseload, selectinload

from app import access
from app.extensions import db
from app.models import (
    ActivitySheet,
    Assessment,
    ClassGroup,
    Convention,
    Learner,
    Level,
    Period,
    Portfolio,
    SheetRead,
    User,
)
from app.services import visits as visit_service
from app.services.attestations import PlacementProgress, placement_progress
from app.services.visits import VisitMark


@dataclass
class SheetLine:
    sheet: ActivitySheet
    unread: bool  # green title for this teacher


@dataclass
class Folder:
    """A learner's portfolio folder in the period view."""

    portfolio: Portfolio
    learner: Learner
    sheets: list[SheetLine] = field(default_factory=list)
    assessment_status: str | None = None
    convention_state: str = "to_sign"
    visit: VisitMark | None = None

    @property
    def written_count(self) -> int:
        return sum(1 for line in self.sheets if line.sheet.is_written)

    @property
    def unread_count(self) -> int:
        return sum(1 for line in self.sheets if line.unread)


@dataclass
class Menu:
    levels: list[Level]
    level: Level | None
    tab: str  # "periods" | "learners"
    periods: list[Period] = field(default_factory=list)
    learners: list[Learner] = field(default_factory=list)
    current_period_id: int | None = None
    current_learner_id: int | None = None


def load_menu(
    user: User,
    level: Level | None,
    tab: str,
    *,
    period_id: int | None = None,
    learner_id: int | None = None,
) -> Menu:
    levels = list(db.session.scalars(access.visible_levels(user)))
    menu = Menu(levels=levels, level=level, tab=tab)
    menu.current_period_id, menu.current_learner_id = period_id, learner_id
    if level is None:
        return menu
    if tab == "periods":
        menu.periods = list(
            db.session.scalars(
                select(Period)
                .where(Period.level_id == level.id)
                .order_by(Period.created_at, Period.id)
                .options(raiseload("*"))
            )
        )
    else:
        menu.learners = learners_of_level(level.id)
    return menu


def learners_of_level(level_id: int) -> list[Learner]:
    return list(
        db.session.scalars(
            select(Learner)
            .join(ClassGroup, Learner.class_group_id == ClassGroup.id)
            .where(ClassGroup.level_id == level_id, Learner.anonymised_at.is_(None))
            .order_by(Learner.last_name, Learner.first_name)
            .options(contains_eager(Learner.class_group), raiseload("*"))
        ).unique()
    )


def unread_for(teacher: User, sheets: list[ActivitySheet]) -> set[int]:
    """Ids of the sheets the learner changed since this teacher last opened them."""
    if not access.is_teacher(teacher) or not sheets:
        return set()
    ids = [sheet.id for sheet in sheets]
    reads = dict(
        db.session.execute(
            select(SheetRead.sheet_id, SheetRead.read_at).where(
                SheetRead.teacher_id == teacher.id, SheetRead.sheet_id.in_(ids)
            )
        ).all()
    )
    return {
        sheet.id
        for sheet in sheets
        if sheet.learner_updated_at is not None
        and (sheet.id not in reads or _later(sheet.learner_updated_at, reads[sheet.id]))
    }


def _later(changed: datetime, read: datetime) -> bool:
    return changed > read


def load_period_folders(
    user: User, period: Period, only_portfolio: int | None = None
) -> list[Folder]:
    """One folder per learner of the period, with sheets, read state and convention state:
    5 queries."""
    query = (
        select(Portfolio)
        .join(Learner, Portfolio.learner_id == Learner.id)
        .where(Portfolio.period_id == period.id)
        .order_by(Learner.last_name, Learner.first_name)
        .options(
            contains_eager(Portfolio.learner).joinedload(Learner.class_group),
            raiseload("*"),
        )
    )
    if only_portfolio is not None:
        query = query.where(Portfolio.id == only_portfolio)
    portfolios = list(db.session.scalars(query).unique())
    folders = {p.id: Folder(portfolio=p, learner=p.learner) for p in portfolios}
    if not folders:
        return []
    sheets = list(
        db.session.scalars(
            select(ActivitySheet)
            .where(ActivitySheet.portfolio_id.in_(folders))
            .order_by(ActivitySheet.position, ActivitySheet.id)
            .options(raiseload("*"))
        )
    )
    unread = unread_for(user, sheets)
    for sheet in sheets:
        assert sheet.portfolio_id is not None
        folders[sheet.portfolio_id].sheets.append(SheetLine(sheet, sheet.id in unread))
    statuses = db.session.execute(
        select(Assessment.portfolio_id, Assessment.status).where(
            Assessment.portfolio_id.in_(folders)
        )
    ).all()
    for portfolio_id, status in statuses:
        folders[portfolio_id].assessment_status = status
    conventions = db.session.execute(
        select(Convention.portfolio_id, Convention.state).where(
            Convention.portfolio_id.in_(folders)
        )
    ).all()
    for portfolio_id, state in conventions:
        folders[portfolio_id].convention_state = state
    for portfolio_id, mark in visit_service.marks_for(list(folders)).items():
        folders[portfolio_id].visit = mark
    return list(folders.values())


@dataclass
class LearnerPortfolio:
    portfolio: Portfolio
    sheets: list[SheetLine]
    assessment_status: str | None


@dataclass
class LearnerView:
    learner: Learner
    portfolios: list[LearnerPortfolio]
    free_sheets: list[SheetLine]
    placement: PlacementProgress | None = None


def load_learner_view(user: User, learner: Learner) -> LearnerView:
    """All portfolios of a learner (one per period), the free-sheets folder and the weeks
    attested towards the diploma: 6 queries."""
    portfolios = list(
        db.session.scalars(
            select(Portfolio)
            .join(Period, Portfolio.period_id == Period.id)
            .where(Portfolio.learner_id == learner.id)
            .order_by(Period.start_date, Period.id)
            .options(
                contains_eager(Portfolio.period),
                joinedload(Portfolio.tutor),
                raiseload("*"),
            )
        ).unique()
    )
    sheets = list(
        db.session.scalars(
            select(ActivitySheet)
            .where(ActivitySheet.learner_id == learner.id)
            .order_by(ActivitySheet.position, ActivitySheet.id)
            .options(raiseload("*"))
        )
    )
    unread = unread_for(user, sheets)
    by_portfolio: dict[int | None, list[SheetLine]] = {}
    for sheet in sheets:
        by_portfolio.setdefault(sheet.portfolio_id, []).append(SheetLine(sheet, sheet.id in unread))
    statuses = dict(
        db.session.execute(
            select(Assessment.portfolio_id, Assessment.status).where(
                Assessment.portfolio_id.in_([p.id for p in portfolios] or [-1])
            )
        ).all()
    )
    return LearnerView(
        learner=learner,
        portfolios=[
            LearnerPortfolio(p, by_portfolio.get(p.id, []), statuses.get(p.id)) for p in portfolios
        ],
        free_sheets=by_portfolio.get(None, []),
        placement=placement_progress(learner),
    )


def load_tutor_mentees(user: User) -> list[Portfolio]:
    """The portfolios a tutor mentors, newest period first: 1 query."""
    return list(
        db.session.scalars(
            access.visible_portfolios(user)
            .join(Period, Portfolio.period_id == Period.id)
            .order_by(Period.start_date.desc(), Portfolio.id)
            .options(
                contains_eager(Portfolio.period),
                joinedload(Portfolio.learner).joinedload(Learner.class_group),
                selectinload(Portfolio.assessment),
                raiseload("*"),
            )
        ).unique()
    )
