"""What the shell shows: the menu of a level and the period / learner work pages.

Each loader runs a fixed number of queries whatever the number of learners or sheets. The
hot lists (menu, folders, sheet lines, the learner's portfolios) are read as the columns they
show, into small tuples that cannot lazy-load; the entities that remain use raiseload so an
N+1 fails loudly in tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Executable, and_, bindparam, select
from sqlalchemy.orm import contains_eager, joinedload, raiseload, selectinload

from app import access
from app.extensions import db
from app.models import (
    ActivitySheet,
    Assessment,
    ClassGroup,
    Convention,
    ConventionState,
    Learner,
    LearnerStatus,
    Level,
    Period,
    Portfolio,
    SheetRead,
    Tutor,
    TutorKind,
    User,
    Visit,
)
from app.models.user import TUTOR_KIND_LABELS
from app.services import visits as visit_service
from app.services.attestations import PlacementProgress, placement_progress
from app.services.visits import VisitMark


@dataclass
class SheetLine:
    """A sheet in a list, with its read state for this teacher (green title when unread)."""

    sheet: ActivitySheet
    unread: bool

    # The attributes the sheet line macro reads, as on `SheetItem`.
    @property
    def id(self) -> int:
        return self.sheet.id

    @property
    def title(self) -> str:
        return self.sheet.title

    @property
    def learner_updated_at(self) -> datetime | None:
        return self.sheet.learner_updated_at


class SheetItem(NamedTuple):
    """A sheet line of the period and learner views: only the columns shown."""

    id: int
    title: str
    learner_updated_at: datetime | None
    unread: bool  # green title for this teacher
    is_written: bool


class FolderLearner(NamedTuple):
    id: int
    full_name: str
    class_name: str
    learner_status: str | None


@dataclass
class Folder:
    """A learner's portfolio folder in the period view."""

    portfolio_id: int
    learner: FolderLearner
    sheets: list[SheetItem] = field(default_factory=list)
    assessment_status: str | None = None
    convention_state: str = "to_sign"
    visit: VisitMark | None = None
    written_count: int = 0
    unread_count: int = 0


class MenuPeriod(NamedTuple):
    id: int
    name: str
    start_date: date
    end_date: date


class MenuLearner(NamedTuple):
    id: int
    label: str  # "GARAY Inès (2NDE-MEE-01)": sort name and class


@dataclass
class Menu:
    levels: list[Level]
    level: Level | None
    tab: str  # "periods" | "learners"
    periods: list[MenuPeriod] = field(default_factory=list)
    learners: list[MenuLearner] = field(default_factory=list)
    current_period_id: int | None = None
    current_learner_id: int | None = None


def _full_name(first_name: str, last_name: str) -> str:
    """As `User.full_name`, from the two columns."""
    return f"{first_name} {last_name.upper()}"


# Statements built once: their construction (coercions, cache keys of loader options) used to
# be paid on every request.
_MENU_PERIODS = (
    select(Period.id, Period.name, Period.start_date, Period.end_date)
    .where(Period.level_id == bindparam("level_id"))
    .order_by(Period.created_at, Period.id)
)
_MENU_LEARNERS = (
    select(Learner.id, Learner.first_name, Learner.last_name, ClassGroup.name)
    .join(ClassGroup, Learner.class_group_id == ClassGroup.id)
    .where(ClassGroup.level_id == bindparam("level_id"), Learner.anonymised_at.is_(None))
    .order_by(Learner.last_name, Learner.first_name)
)


def load_menu(
    user: User,
    level: Level | int | None,
    tab: str,
    *,
    period_id: int | None = None,
    learner_id: int | None = None,
) -> Menu:
    """The level selector and the list of periods or learners of the level (`level` may be
    an id: the level then comes from the selector's rows, without a query of its own)."""
    levels = list(db.session.scalars(access.visible_levels(user)))
    if isinstance(level, int):
        level = db.session.get(Level, level)  # in the identity map when among `levels`
    menu = Menu(levels=levels, level=level, tab=tab)
    menu.current_period_id, menu.current_learner_id = period_id, learner_id
    if level is None:
        return menu
    if tab == "periods":
        menu.periods = [
            MenuPeriod(*row) for row in db.session.execute(_MENU_PERIODS, {"level_id": level.id})
        ]
    else:
        rows = db.session.execute(_MENU_LEARNERS, {"level_id": level.id})
        menu.learners = [
            MenuLearner(row_id, f"{last.upper()} {first} ({class_name})")
            for row_id, first, last, class_name in rows
        ]
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


# One row per portfolio: assessment, convention and visit are at most one per portfolio
# (unique portfolio_id), so the outer joins do not multiply rows.
_FOLDERS = (
    select(
        Portfolio.id,
        Learner.id,
        Learner.first_name,
        Learner.last_name,
        Learner.learner_status,
        ClassGroup.name,
        Assessment.status,
        Convention.state,
        Visit.status,
        Visit.planned_start,
    )
    .join(Learner, Portfolio.learner_id == Learner.id)
    .outerjoin(ClassGroup, Learner.class_group_id == ClassGroup.id)
    .outerjoin(Assessment, Assessment.portfolio_id == Portfolio.id)
    .outerjoin(Convention, Convention.portfolio_id == Portfolio.id)
    .outerjoin(Visit, Visit.portfolio_id == Portfolio.id)
    .where(Portfolio.period_id == bindparam("period_id"))
    .order_by(Learner.last_name, Learner.first_name)
)
_ONE_FOLDER = _FOLDERS.where(Portfolio.id == bindparam("portfolio_id"))

# The sheets with this teacher's read time (sheet_reads: one row per sheet and teacher).
_SHEET_COLUMNS = (
    ActivitySheet.id,
    ActivitySheet.portfolio_id,
    ActivitySheet.title,
    ActivitySheet.learner_updated_at,
    ActivitySheet.description,
    SheetRead.read_at,
)
_READ_JOIN = and_(
    SheetRead.sheet_id == ActivitySheet.id, SheetRead.teacher_id == bindparam("teacher_id")
)
_SHEET_ORDER = (ActivitySheet.position, ActivitySheet.id)
_PORTFOLIO_SHEETS = (
    select(*_SHEET_COLUMNS)
    .outerjoin(SheetRead, _READ_JOIN)
    .where(ActivitySheet.portfolio_id.in_(bindparam("portfolio_ids", expanding=True)))
    .order_by(*_SHEET_ORDER)
)
_LEARNER_SHEETS = (
    select(*_SHEET_COLUMNS)
    .outerjoin(SheetRead, _READ_JOIN)
    .where(ActivitySheet.learner_id == bindparam("learner_id"))
    .order_by(*_SHEET_ORDER)
)


def _sheet_items(
    user: User, statement: Executable, params: dict[str, Any]
) -> Iterator[tuple[int | None, SheetItem]]:
    """(portfolio id, line) of each sheet; unread as `unread_for` says, in the same query."""
    teacher = access.is_teacher(user)
    params["teacher_id"] = user.id if teacher else None
    for sheet_id, portfolio_id, title, changed, description, read_at in db.session.execute(
        statement, params
    ):
        unread = teacher and changed is not None and (read_at is None or _later(changed, read_at))
        yield portfolio_id, SheetItem(sheet_id, title, changed, unread, bool(description.strip()))


def load_period_folders(
    user: User, period: Period, only_portfolio: int | None = None
) -> list[Folder]:
    """One folder per learner of the period, with sheets, read state, assessment, convention
    and visit: 2 queries."""
    if only_portfolio is None:
        rows = db.session.execute(_FOLDERS, {"period_id": period.id})
    else:
        rows = db.session.execute(
            _ONE_FOLDER, {"period_id": period.id, "portfolio_id": only_portfolio}
        )
    folders: dict[int, Folder] = {}
    for (
        portfolio_id,
        learner_id,
        first_name,
        last_name,
        learner_status,
        class_name,
        assessment_status,
        convention_state,
        visit_status,
        visit_start,
    ) in rows:
        folders[portfolio_id] = Folder(
            portfolio_id=portfolio_id,
            learner=FolderLearner(
                learner_id, _full_name(first_name, last_name), class_name or "", learner_status
            ),
            assessment_status=assessment_status,
            convention_state=convention_state or "to_sign",
            visit=visit_service.mark(visit_status, visit_start),
        )
    if not folders:
        return []
    for sheet_portfolio, item in _sheet_items(
        user, _PORTFOLIO_SHEETS, {"portfolio_ids": list(folders)}
    ):
        assert sheet_portfolio is not None
        folder = folders[sheet_portfolio]
        folder.sheets.append(item)
        folder.written_count += item.is_written
        folder.unread_count += item.unread
    return list(folders.values())


class PortfolioTutor(NamedTuple):
    kind_label: str  # as `Tutor.kind_label`
    full_name: str


class FolderCounts(NamedTuple):
    """The period view's summary lines, counted once rather than by filter chains."""

    pupils: int  # learners with a PFMP convention (apprentices have a contract instead)
    unsigned: int  # of those, conventions not yet signed by the head of school
    visits_to_plan: int


def folder_counts(folders: list[Folder]) -> FolderCounts:
    pupils = [f for f in folders if f.learner.learner_status != LearnerStatus.APPRENTICE]
    return FolderCounts(
        pupils=len(pupils),
        unsigned=sum(f.convention_state != ConventionState.SIGNED_BY_HEAD for f in pupils),
        visits_to_plan=sum(f.visit is not None and f.visit.to_plan for f in folders),
    )


@dataclass
class LearnerPortfolio:
    """A portfolio of the learner view: its period and tutor as the columns shown."""

    id: int
    period_name: str
    start_date: date
    end_date: date
    tutor: PortfolioTutor | None
    sheets: list[SheetItem]
    assessment_status: str | None


@dataclass
class LearnerView:
    learner: Learner
    portfolios: list[LearnerPortfolio]
    free_sheets: list[SheetItem]
    placement: PlacementProgress | None = None


_LEARNER_PORTFOLIOS = (
    select(
        Portfolio.id,
        Period.name,
        Period.start_date,
        Period.end_date,
        Tutor.id,
        Tutor.tutor_kind,
        Tutor.first_name,
        Tutor.last_name,
        Assessment.status,
    )
    .join(Period, Portfolio.period_id == Period.id)
    .outerjoin(Tutor, Portfolio.tutor_id == Tutor.id)
    .outerjoin(Assessment, Assessment.portfolio_id == Portfolio.id)
    .where(Portfolio.learner_id == bindparam("learner_id"))
    .order_by(Period.start_date, Period.id)
)


def _tutor(tutor_id: int | None, kind: str | None, first: str, last: str) -> PortfolioTutor | None:
    if tutor_id is None:
        return None
    label = TUTOR_KIND_LABELS.get(TutorKind(kind or "internship"), "")
    return PortfolioTutor(label, _full_name(first, last))


def load_learner_view(user: User, learner: Learner) -> LearnerView:
    """All portfolios of a learner (one per period), the free-sheets folder and the weeks
    attested towards the diploma: 3 queries."""
    rows = db.session.execute(_LEARNER_PORTFOLIOS, {"learner_id": learner.id}).all()
    by_portfolio: dict[int | None, list[SheetItem]] = {}
    for portfolio_id, item in _sheet_items(user, _LEARNER_SHEETS, {"learner_id": learner.id}):
        by_portfolio.setdefault(portfolio_id, []).append(item)
    return LearnerView(
        learner=learner,
        portfolios=[
            LearnerPortfolio(
                portfolio_id,
                name,
                start,
                end,
                _tutor(tutor_id, kind, first, last),
                by_portfolio.get(portfolio_id, []),
                status,
            )
            for portfolio_id, name, start, end, tutor_id, kind, first, last, status in rows
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
