"""Activity sheets (SPEC F5): loading, writing, read state, complementary and free sheets.

A sheet always belongs to its learner; `portfolio_id` is null for a free sheet ("Fiches
libres"). `learner_updated_at` moves only when the learner changes the content: it is the date
shown as "dernière modification" and what makes a title green for a teacher who has not read
the sheet since (see `navigation.unread_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload, raiseload, selectinload

from app import access
from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from app.models import (
    Activity,
    ActivitySheet,
    ClassGroup,
    Learner,
    Period,
    Portfolio,
    SheetKind,
    SheetRead,
    User,
)
from app.models.base import utcnow
from app.services import attachments, audit, framework_links

CONDITIONS = {"autonomous": "En autonomie", "accompanied": "Accompagné(e)"}
TEXT_FIELDS = ("title", "company", "description", "analysis")
MAX_TITLE = 200
MAX_COMPANY = 200
MAX_TEXT = 20000
DEFAULT_COMPLEMENTARY_TITLE = "Fiche activité complémentaire"
DEFAULT_FREE_TITLE = "Fiche libre"


# Built once: constructing a statement with its loader options and computing its cache key cost
# more than running it (the key is memoized on the statement object).
_LOAD_SHEET = (
    select(ActivitySheet)
    .where(ActivitySheet.id == bindparam("sheet_id", type_=Integer))
    .options(
        joinedload(ActivitySheet.portfolio).joinedload(Portfolio.period).joinedload(Period.level),
        joinedload(ActivitySheet.learner)
        .joinedload(Learner.class_group)
        .joinedload(ClassGroup.level),
        joinedload(ActivitySheet.activity),
        joinedload(ActivitySheet.attachments),
    )
)


def load_sheet(sheet_id: int) -> ActivitySheet | None:
    """A sheet with what its pages and the access rules read, its annexes included: 1 query
    (a row per annex)."""
    result = db.session.execute(_LOAD_SHEET, {"sheet_id": sheet_id})
    return result.unique().scalar_one_or_none()


def load_portfolio(portfolio_id: int) -> Portfolio | None:
    """A portfolio with its period, level, learner and tutor: 1 query."""
    return db.session.scalar(
        select(Portfolio)
        .where(Portfolio.id == portfolio_id)
        .options(
            joinedload(Portfolio.period).joinedload(Period.level),
            joinedload(Portfolio.learner).joinedload(Learner.class_group),
            joinedload(Portfolio.tutor),
            joinedload(Portfolio.liaison_sheet),
        )
    )


def framework_id_of(sheet: ActivitySheet) -> int | None:
    """The framework a sheet links to: its period's level, or (free sheet) its learner's."""
    if sheet.portfolio is not None:
        return sheet.portfolio.period.level.framework_id
    group = sheet.learner.class_group
    return group.level.framework_id if group is not None else None


_FRAMEWORK_ACTIVITIES = (
    select(Activity)
    .where(Activity.framework_id == bindparam("framework_id", type_=Integer))
    .order_by(Activity.position, Activity.id)
    .options(raiseload("*"))
)


def framework_activities(framework_id: int | None) -> list[Activity]:
    """The activity types a learner picks from on the Contexte page: 1 query."""
    if framework_id is None:
        return []
    return list(db.session.scalars(_FRAMEWORK_ACTIVITIES, {"framework_id": framework_id}))


# --- writing --------------------------------------------------------------------------------


def clean_changes(sheet: ActivitySheet, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the fields present in `raw` (any subset of title, company, conditions,
    activity_id, description, analysis) and return them typed; InvalidInput names the first
    faulty field. Forms validate the same rules first, so this guards the JSON path."""
    clean: dict[str, Any] = {}
    limits = {
        "title": MAX_TITLE,
        "company": MAX_COMPANY,
        "description": MAX_TEXT,
        "analysis": MAX_TEXT,
    }
    for name in TEXT_FIELDS:
        if name not in raw or (name == "title" and sheet.kind == SheetKind.WEEK):
            continue
        value = raw[name]
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput(f"Le champ « {name} » doit être du texte.")
        value = value.replace("\r\n", "\n")
        if name in ("title", "company"):
            value = " ".join(value.split())
        if len(value) > limits[name]:
            raise InvalidInput(
                f"Le champ « {name} » est trop long ({limits[name]} caractères au plus)."
            )
        if name == "title" and not value:
            raise InvalidInput("Donnez un titre à la fiche.")
        clean[name] = value
    if "conditions" in raw:
        conditions = raw["conditions"] or None
        if conditions is not None and conditions not in CONDITIONS:
            raise InvalidInput("Conditions de réalisation inconnues.")
        clean["conditions"] = conditions
    if "activity_id" in raw:
        activity_id = raw["activity_id"]
        if activity_id in (None, ""):
            clean["activity_id"] = None
        else:
            try:
                activity_id = int(activity_id)
            except (TypeError, ValueError) as error:
                raise InvalidInput("Activité du référentiel inconnue.") from error
            allowed = {a.id for a in framework_activities(framework_id_of(sheet))}
            if activity_id not in allowed:
                raise InvalidInput("Activité du référentiel inconnue.")
            clean["activity_id"] = activity_id
    return clean


def save_sheet(sheet: ActivitySheet, user: User, raw: Mapping[str, Any]) -> bool:
    """Apply the learner's edits (any subset of the fields); True when something changed.
    Only a real change by the learner moves `learner_updated_at`."""
    if not access.can_write_sheet(user, sheet):
        raise NotAllowed("Seul l'apprenant peut modifier sa fiche.")
    changed = False
    for name, value in clean_changes(sheet, raw).items():
        if getattr(sheet, name) != value:
            setattr(sheet, name, value)
            changed = True
    if changed:
        sheet.learner_updated_at = utcnow()
        db.session.flush()
    return changed


def mark_read(sheet: ActivitySheet, teacher: User) -> None:
    """Record that this teacher opened the sheet now (per-teacher read state)."""
    if not access.is_teacher(teacher):
        return
    values = {"sheet_id": sheet.id, "teacher_id": teacher.id, "read_at": utcnow()}
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(SheetRead).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["sheet_id", "teacher_id"], set_={"read_at": values["read_at"]}
    )
    db.session.execute(statement)


# --- complementary and free sheets ----------------------------------------------------------


def _next_position(portfolio_id: int | None, learner_id: int) -> int:
    query = select(func.max(ActivitySheet.position))
    if portfolio_id is None:
        query = query.where(
            ActivitySheet.portfolio_id.is_(None), ActivitySheet.learner_id == learner_id
        )
    else:
        query = query.where(ActivitySheet.portfolio_id == portfolio_id)
    current = db.session.scalar(query)
    return 0 if current is None else current + 1


def _title(raw: str | None, default: str) -> str:
    title = " ".join((raw or "").split())
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"Le titre est trop long ({MAX_TITLE} caractères au plus).")
    return title or default


def create_complementary_sheet(
    portfolio: Portfolio, user: User, title: str | None
) -> ActivitySheet:
    """A sheet added to a period by its learner or a teacher, after the week sheets."""
    if not access.can_add_sheet(user, portfolio):
        raise NotAllowed("Vous ne pouvez pas ajouter de fiche à ce portfolio.")
    sheet = ActivitySheet(
        learner_id=portfolio.learner_id,
        portfolio_id=portfolio.id,
        kind=SheetKind.COMPLEMENTARY,
        position=_next_position(portfolio.id, portfolio.learner_id),
        title=_title(title, DEFAULT_COMPLEMENTARY_TITLE),
        learner_updated_at=utcnow() if user.id == portfolio.learner_id else None,
    )
    db.session.add(sheet)
    db.session.flush()
    audit.record(
        user, "sheet.created", "activity_sheet", sheet.id, learner_id=sheet.learner_id,
        kind=sheet.kind, portfolio_id=portfolio.id,
    )  # fmt: skip
    return sheet


def create_free_sheet(learner: User, title: str | None) -> ActivitySheet:
    """A sheet in the learner's free-sheets folder (attached to no period)."""
    if not access.can_create_free_sheet(learner):
        raise NotAllowed("Seul un apprenant peut créer une fiche libre.")
    sheet = ActivitySheet(
        learner_id=learner.id,
        portfolio_id=None,
        kind=SheetKind.FREE,
        position=_next_position(None, learner.id),
        title=_title(title, DEFAULT_FREE_TITLE),
        learner_updated_at=utcnow(),
    )
    db.session.add(sheet)
    db.session.flush()
    return sheet


def attach_to_portfolio(sheet: ActivitySheet, portfolio: Portfolio, user: User) -> None:
    """Move a free sheet into one of its learner's periods, after that period's sheets."""
    if not access.can_attach_sheet(user, sheet, portfolio):
        raise NotAllowed("Cette fiche ne peut pas être rattachée à cette période.")
    before = framework_id_of(sheet)
    sheet.portfolio_id = portfolio.id
    sheet.portfolio = portfolio
    if framework_id_of(sheet) != before:  # links to another diploma's tasks make no sense here
        framework_links.clear_sheet_links(sheet.id)
        sheet.activity_id = None
    sheet.kind = SheetKind.COMPLEMENTARY
    sheet.position = _next_position(portfolio.id, sheet.learner_id)
    sheet.learner_updated_at = utcnow()
    db.session.flush()
    audit.record(
        user, "sheet.attached", "activity_sheet", sheet.id, learner_id=sheet.learner_id,
        portfolio_id=portfolio.id,
    )  # fmt: skip


def delete_sheet(sheet: ActivitySheet, user: User) -> None:
    """Delete a complementary or free sheet with its links and annexes (files go once the
    transaction commits). Week sheets belong to their period and cannot be deleted."""
    if not access.can_delete_sheet(user, sheet):
        raise NotAllowed("Seules les fiches complémentaires et les fiches libres se suppriment.")
    attachments.delete_files_after_commit(attachments.stored_names_of_sheets([sheet.id]))
    audit.record(
        user, "sheet.deleted", "activity_sheet", sheet.id, learner_id=sheet.learner_id,
        title=sheet.title, kind=sheet.kind,
    )  # fmt: skip
    db.session.delete(sheet)
    db.session.flush()


def learner_portfolios(learner_id: int) -> list[Portfolio]:
    """The learner's portfolios (for "attach to a period"), latest period first: 1 query."""
    return list(
        db.session.scalars(
            select(Portfolio)
            .join(Period, Portfolio.period_id == Period.id)
            .where(Portfolio.learner_id == learner_id)
            .order_by(Period.start_date.desc(), Period.id.desc())
            .options(joinedload(Portfolio.period).joinedload(Period.level), raiseload("*"))
        )
    )


@dataclass(frozen=True)
class SheetStub:
    id: int
    title: str


@dataclass
class SheetNeighbours:
    previous: SheetStub | None
    next: SheetStub | None
    position: int  # 1-based
    total: int


_sheets = ActivitySheet.__table__.c
_SIBLINGS = (
    select(_sheets.id, _sheets.title)
    .where(_sheets.portfolio_id == bindparam("portfolio_id", type_=Integer))
    .order_by(_sheets.position, _sheets.id)
)


def neighbours(sheet: ActivitySheet) -> SheetNeighbours | None:
    """Previous / next sheet of the same portfolio, so a teacher reads them one by one."""
    if sheet.portfolio_id is None:
        return None
    siblings = (
        db.session.connection().execute(_SIBLINGS, {"portfolio_id": sheet.portfolio_id}).all()
    )
    ids = [row[0] for row in siblings]
    index = ids.index(sheet.id)

    def _stub(i: int) -> SheetStub | None:
        if 0 <= i < len(siblings):
            return SheetStub(*siblings[i])
        return None

    return SheetNeighbours(_stub(index - 1), _stub(index + 1), index + 1, len(siblings))


def portfolio_sheets(portfolio_id: int) -> list[ActivitySheet]:
    """The sheets of a portfolio in reading order, with their annex counts loaded: 2 queries."""
    return list(
        db.session.scalars(
            select(ActivitySheet)
            .where(ActivitySheet.portfolio_id == portfolio_id)
            .order_by(ActivitySheet.position, ActivitySheet.id)
            .options(selectinload(ActivitySheet.attachments), raiseload("*"))
        )
    )
