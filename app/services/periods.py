"""Pedagogical annexes and periods in a company (SPEC F3).

A period is created for one level from a root annex (or from scratch); creating it generates,
in one transaction, a portfolio per learner with one week sheet per ISO week, a liaison sheet
pre-filled from the period and a draft assessment. Editing the period keeps every sheet that
has content (it moves to the learner's free sheets), keeps individualised liaison fields and
never touches the root annex. A period is locked once an interim review used one of its
assessments; it may be deleted only under the rules of `delete_blockers`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_, select, union
from sqlalchemy.orm import joinedload, selectinload

from app import timefmt
from app.errors import DomainError, InvalidInput, PeriodLocked
from app.extensions import db
from app.models import (
    ActivitySheet,
    Assessment,
    AssessmentItem,
    AssessmentStatus,
    Attachment,
    ClassGroup,
    InterimReview,
    ItemKind,
    Learner,
    Level,
    LiaisonSheet,
    PedagogicalAnnex,
    Period,
    Portfolio,
    SheetCompetency,
    SheetCriterion,
    SheetKind,
    SheetTask,
    Task,
    User,
    interim_review_assessments,
)
from app.services import audit

MAX_WEEKS = 53  # a period longer than a year is a typing mistake, not a placement
MAX_TEXT = 20_000


class FieldError(InvalidInput):
    """Bad input tied to one form field, so the page can show the message next to it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


# --- annexes ---------------------------------------------------------------------------------


@dataclass
class AnnexInput:
    name: str
    objectives: str = ""
    activities: str = ""
    task_ids: Collection[int] = ()


def annexes_of_level(level_id: int) -> list[PedagogicalAnnex]:
    """The root annexes of a level with their tasks: 2 queries."""
    return list(
        db.session.scalars(
            select(PedagogicalAnnex)
            .where(PedagogicalAnnex.level_id == level_id)
            .order_by(PedagogicalAnnex.name, PedagogicalAnnex.id)
            .options(selectinload(PedagogicalAnnex.tasks))
        )
    )


def create_annex(actor: User, level: Level, data: AnnexInput) -> PedagogicalAnnex:
    """A new root annex for the level."""
    annex = PedagogicalAnnex(level_id=level.id, created_by_id=actor.id)
    _fill_annex(annex, level, data)
    db.session.add(annex)
    db.session.flush()
    return annex


def update_annex(actor: User, annex: PedagogicalAnnex, data: AnnexInput) -> PedagogicalAnnex:
    """Change a root annex; the periods created from it keep their own copy."""
    _fill_annex(annex, annex.level, data)
    db.session.flush()
    return annex


def delete_annex(actor: User, annex: PedagogicalAnnex) -> None:
    """Delete a root annex; periods created from it are unaffected (annex_id becomes null)."""
    db.session.delete(annex)
    db.session.flush()


def _fill_annex(annex: PedagogicalAnnex, level: Level, data: AnnexInput) -> None:
    name = data.name.strip()
    if not name:
        raise FieldError("name", "Donnez un nom à l'annexe pédagogique.")
    if len(name) > 200:
        raise FieldError("name", "Le nom ne doit pas dépasser 200 caractères.")
    annex.name = name
    annex.objectives = _text(data.objectives, "objectives")
    annex.activities = _text(data.activities, "activities")
    annex.tasks = _tasks_of_level(level, data.task_ids)


# --- periods: input ----------------------------------------------------------------------------


@dataclass
class PeriodInput:
    """What the period form sends. Learners are the union of whole classes and individuals."""

    name: str
    start_date: date | None
    end_date: date | None
    learner_ids: Collection[int] = ()
    class_ids: Collection[int] = ()
    objectives: str = ""
    activities: str = ""
    task_ids: Collection[int] = ()


@dataclass
class UpdateResult:
    moved: int = 0  # sheets with content moved to free sheets
    added_sheets: int = 0
    deleted_sheets: int = 0
    added_learners: list[str] = field(default_factory=list)
    removed_learners: list[str] = field(default_factory=list)


def _text(value: str | None, field_name: str) -> str:
    text = (value or "").strip()
    if len(text) > MAX_TEXT:
        raise FieldError(field_name, f"Ce texte ne doit pas dépasser {MAX_TEXT} caractères.")
    return text


def _validate_dates(data: PeriodInput) -> tuple[date, date]:
    if data.start_date is None:
        raise FieldError("start_date", "Indiquez la date de début.")
    if data.end_date is None:
        raise FieldError("end_date", "Indiquez la date de fin.")
    if data.end_date < data.start_date:
        raise FieldError(
            "end_date", "La date de fin doit être postérieure ou égale à la date de début."
        )
    if len(timefmt.iso_weeks(data.start_date, data.end_date)) > MAX_WEEKS:
        raise FieldError("end_date", f"Une période ne peut pas dépasser {MAX_WEEKS} semaines.")
    return data.start_date, data.end_date


def _validate_name(data: PeriodInput) -> str:
    name = (data.name or "").strip()
    if not name:
        raise FieldError("name", "Donnez un nom à la période.")
    if len(name) > 200:
        raise FieldError("name", "Le nom ne doit pas dépasser 200 caractères.")
    return name


def _tasks_of_level(level: Level, task_ids: Collection[int]) -> list[Task]:
    ids = set(task_ids)
    if not ids:
        return []
    tasks = list(
        db.session.scalars(
            select(Task).where(Task.id.in_(ids), Task.framework_id == level.framework_id)
        )
    )
    if len(tasks) != len(ids):
        raise FieldError("task_ids", "Une des tâches choisies n'appartient pas au référentiel.")
    return tasks


def resolve_learners(
    level: Level, data: PeriodInput, already_in: Collection[int] = ()
) -> list[Learner]:
    """The learners of the level picked one by one or through their whole class. Learners
    `already_in` the period stay acceptable even if they changed level or were anonymised
    since, so that an unrelated edit does not drop their portfolio."""
    class_ids, learner_ids = set(data.class_ids), set(data.learner_ids)
    if not class_ids and not learner_ids:
        raise FieldError("learner_ids", "Choisissez au moins un apprenant ou une classe.")
    classes = set(
        db.session.scalars(
            select(ClassGroup.id).where(
                ClassGroup.id.in_(class_ids or {-1}), ClassGroup.level_id == level.id
            )
        )
    )
    if classes != class_ids:
        raise FieldError("class_ids", "Une des classes choisies n'appartient pas à ce niveau.")
    learners = list(
        db.session.scalars(
            select(Learner)
            .join(ClassGroup, Learner.class_group_id == ClassGroup.id)
            .where(
                ClassGroup.level_id == level.id,
                Learner.anonymised_at.is_(None),
                or_(
                    Learner.id.in_(learner_ids or {-1}),
                    Learner.class_group_id.in_(classes or {-1}),
                ),
            )
            .order_by(Learner.last_name, Learner.first_name, Learner.id)
        )
    )
    kept = (learner_ids & set(already_in)) - {learner.id for learner in learners}
    if kept:
        learners += list(db.session.scalars(select(Learner).where(Learner.id.in_(kept))))
    if not learner_ids <= {learner.id for learner in learners}:
        raise FieldError(
            "learner_ids", "Un des apprenants choisis n'existe pas ou n'appartient pas à ce niveau."
        )
    if not learners:
        raise FieldError("learner_ids", "Les classes choisies n'ont aucun apprenant.")
    return learners


def _check_overlap(
    learners: list[Learner], start: date, end: date, exclude_period_id: int | None
) -> None:
    """Refuse when one learner would be in two companies at once."""
    ids = [learner.id for learner in learners]
    query = (
        select(Portfolio.learner_id, Period)
        .join(Period, Portfolio.period_id == Period.id)
        .where(
            Portfolio.learner_id.in_(ids),
            Period.start_date <= end,
            Period.end_date >= start,
        )
        .order_by(Period.start_date, Period.id)
    )
    if exclude_period_id is not None:
        query = query.where(Period.id != exclude_period_id)
    clash = db.session.execute(query.limit(1)).first()
    if clash is not None:
        learner_id, other = clash
        learner = next(item for item in learners if item.id == learner_id)
        raise FieldError(
            "learner_ids",
            f"{learner.full_name} est déjà en entreprise pendant la période « {other.name} » "
            f"(du {timefmt.fr_date(other.start_date)} au {timefmt.fr_date(other.end_date)}) : "
            "les périodes d'un même apprenant ne peuvent pas se chevaucher.",
        )


# --- periods: creation ---------------------------------------------------------------------------


def create_period(
    actor: User, level: Level, data: PeriodInput, annex: PedagogicalAnnex | None = None
) -> Period:
    """Create a period and, for each learner, a portfolio with its week sheets, a liaison
    sheet pre-filled from the period and a draft assessment. `actor` becomes the referent
    teacher of every portfolio."""
    name = _validate_name(data)
    start, end = _validate_dates(data)
    learners = resolve_learners(level, data)
    _check_overlap(learners, start, end, None)
    if annex is not None and annex.level_id != level.id:
        raise FieldError("annex_id", "Cette annexe pédagogique appartient à un autre niveau.")
    period = Period(
        level_id=level.id,
        annex_id=annex.id if annex is not None else None,
        name=name,
        start_date=start,
        end_date=end,
        objectives=_text(data.objectives, "objectives"),
        activities=_text(data.activities, "activities"),
        created_by_id=actor.id,
    )
    period.tasks = _tasks_of_level(level, data.task_ids)
    db.session.add(period)
    weeks = timefmt.iso_weeks(start, end)
    for learner in learners:
        _new_portfolio(period, learner, actor, weeks)
    db.session.flush()
    audit.record(
        actor,
        "period.created",
        "period",
        period.id,
        name=period.name,
        start=start.isoformat(),
        end=end.isoformat(),
        learners=[learner.id for learner in learners],
        annex_id=period.annex_id,
    )
    return period


def _new_portfolio(
    period: Period, learner: Learner, referent: User | None, weeks: list[tuple[int, int]]
) -> Portfolio:
    portfolio = Portfolio(
        period=period,
        learner_id=learner.id,
        referent_teacher_id=referent.id if referent is not None else None,
    )
    portfolio.liaison_sheet = LiaisonSheet(
        objectives=period.objectives, activities=period.activities
    )
    portfolio.assessment = Assessment(status=AssessmentStatus.DRAFT)
    for position, (iso_year, iso_week) in enumerate(weeks):
        portfolio.sheets.append(_week_sheet(learner.id, iso_year, iso_week, position))
    db.session.add(portfolio)
    return portfolio


def _week_sheet(learner_id: int, iso_year: int, iso_week: int, position: int) -> ActivitySheet:
    return ActivitySheet(
        learner_id=learner_id,
        kind=SheetKind.WEEK,
        iso_year=iso_year,
        iso_week=iso_week,
        position=position,
        title=timefmt.week_title(iso_year, iso_week),
    )


# --- content of sheets -------------------------------------------------------------------------


def sheets_with_content(sheets: Iterable[ActivitySheet]) -> set[int]:
    """Ids of the sheets holding something a person wrote or chose: text, context, tasks,
    competencies, criteria or attachments (1 query)."""
    sheets = list(sheets)
    if not sheets:
        return set()
    ids = [sheet.id for sheet in sheets]
    linked = set(
        db.session.scalars(
            union(
                select(SheetTask.sheet_id).where(SheetTask.sheet_id.in_(ids)),
                select(SheetCompetency.sheet_id).where(SheetCompetency.sheet_id.in_(ids)),
                select(SheetCriterion.sheet_id).where(SheetCriterion.sheet_id.in_(ids)),
                select(Attachment.sheet_id).where(Attachment.sheet_id.in_(ids)),
            )
        )
    )
    return {
        sheet.id
        for sheet in sheets
        if sheet.id in linked
        or (sheet.description or "").strip()
        or (sheet.analysis or "").strip()
        or (sheet.company or "").strip()
        or sheet.conditions
        or sheet.activity_id
    }


def _release_sheet(portfolio: Portfolio, sheet: ActivitySheet, keep: set[int]) -> bool:
    """Take a sheet out of a portfolio: to the free sheets when it has content (True),
    deleted otherwise (False)."""
    portfolio.sheets.remove(sheet)
    if sheet.id in keep:
        sheet.portfolio_id = None
        return True
    db.session.delete(sheet)
    return False


def _renumber(portfolio: Portfolio) -> None:
    """Week sheets first in calendar order, then the other sheets in their current order."""
    weeks = sorted(
        (s for s in portfolio.sheets if s.kind == SheetKind.WEEK),
        key=lambda s: (s.iso_year or 0, s.iso_week or 0, s.id or 0),
    )
    others = sorted(
        (s for s in portfolio.sheets if s.kind != SheetKind.WEEK),
        key=lambda s: (s.position, s.id or 0),
    )
    for position, sheet in enumerate([*weeks, *others]):
        sheet.position = position


def _sync_weeks(
    portfolio: Portfolio, weeks: list[tuple[int, int]], keep: set[int], result: UpdateResult
) -> None:
    wanted = set(weeks)
    present: set[tuple[int, int]] = set()
    for sheet in [s for s in portfolio.sheets if s.kind == SheetKind.WEEK]:
        key = (sheet.iso_year or 0, sheet.iso_week or 0)
        if key in wanted and key not in present:
            present.add(key)
            continue
        if _release_sheet(portfolio, sheet, keep):
            result.moved += 1
        else:
            result.deleted_sheets += 1
    for iso_year, iso_week in weeks:
        if (iso_year, iso_week) not in present:
            portfolio.sheets.append(_week_sheet(portfolio.learner_id, iso_year, iso_week, 0))
            result.added_sheets += 1
    _renumber(portfolio)


def _dissolve_portfolio(portfolio: Portfolio, keep: set[int], result: UpdateResult) -> None:
    """Delete a portfolio; its sheets with content move to the learner's free sheets."""
    for sheet in list(portfolio.sheets):
        if _release_sheet(portfolio, sheet, keep):
            result.moved += 1
        else:
            result.deleted_sheets += 1
    db.session.delete(portfolio)


def _load_portfolios(period: Period) -> list[Portfolio]:
    return list(
        db.session.scalars(
            select(Portfolio)
            .where(Portfolio.period_id == period.id)
            .order_by(Portfolio.id)
            .options(
                joinedload(Portfolio.learner),
                selectinload(Portfolio.sheets),
                selectinload(Portfolio.liaison_sheet),
                selectinload(Portfolio.assessment),
            )
            .execution_options(populate_existing=True)
        )
    )


# --- locking and deletion rules ----------------------------------------------------------------


def period_lock_reason(period: Period) -> str | None:
    """Why the parameters of the period can no longer be edited, or None (1 query)."""
    row = db.session.execute(
        select(InterimReview.review_date, Learner.first_name, Learner.last_name)
        .join(
            interim_review_assessments,
            interim_review_assessments.c.review_id == InterimReview.id,
        )
        .join(Assessment, Assessment.id == interim_review_assessments.c.assessment_id)
        .join(Portfolio, Portfolio.id == Assessment.portfolio_id)
        .join(Learner, Learner.id == Portfolio.learner_id)
        .where(Portfolio.period_id == period.id)
        .order_by(InterimReview.review_date, InterimReview.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    review_date, first_name, last_name = row
    return (
        "Paramètres verrouillés : les bilans entreprise de cette période ont servi à établir "
        f"un bilan intermédiaire de compétences ({first_name} {last_name.upper()}, "
        f"{timefmt.fr_date(review_date)})."
    )


def meeting_dates(portfolios: list[Portfolio]) -> dict[int, date]:
    """Meeting date of each portfolio's assessment: the 'meeting_date' item, or the last day
    of the period by default (1 query)."""
    by_assessment = {p.assessment.id: p for p in portfolios if p.assessment is not None}
    dates = {p.id: p.period.end_date for p in portfolios}
    if not by_assessment:
        return dates
    rows = db.session.execute(
        select(AssessmentItem.assessment_id, AssessmentItem.value).where(
            AssessmentItem.assessment_id.in_(by_assessment),
            AssessmentItem.kind == ItemKind.MEETING_DATE,
        )
    ).all()
    for assessment_id, value in rows:
        try:
            dates[by_assessment[assessment_id].id] = date.fromisoformat((value or "").strip())
        except ValueError:
            continue
    return dates


def _removal_blockers(portfolios: list[Portfolio]) -> list[str]:
    """Reasons some of these portfolios may not be deleted: a completed assessment whose
    meeting date is not earlier than the learner's last interim review (2 queries)."""
    completed = [p for p in portfolios if p.assessment is not None and p.assessment.is_completed]
    if not completed:
        return []
    dates = meeting_dates(completed)
    last_reviews = dict(
        db.session.execute(
            select(InterimReview.learner_id, func.max(InterimReview.review_date))
            .where(InterimReview.learner_id.in_({p.learner_id for p in completed}))
            .group_by(InterimReview.learner_id)
        ).all()
    )
    reasons = []
    for portfolio in completed:
        meeting = dates[portfolio.id]
        last = last_reviews.get(portfolio.learner_id)
        if last is not None and meeting < last:
            continue
        who = portfolio.learner.full_name
        if last is None:
            reasons.append(
                f"Le bilan entreprise de {who} est complété (rencontre du "
                f"{timefmt.fr_date(meeting)}) et aucun bilan intermédiaire de compétences "
                "ne l'a encore pris en compte."
            )
        else:
            reasons.append(
                f"Le bilan entreprise de {who} est complété (rencontre du "
                f"{timefmt.fr_date(meeting)}) et n'est pas antérieur à son dernier bilan "
                f"intermédiaire de compétences ({timefmt.fr_date(last)})."
            )
    return reasons


@dataclass
class DeletionPreview:
    blockers: list[str]  # why the period may not be deleted (empty: it may be)
    learners: int
    moving: int  # sheets with content that will move to the free sheets


def deletion_preview(period: Period) -> DeletionPreview:
    """What deleting the period would do, for the confirmation page (fixed query count)."""
    portfolios = _load_portfolios(period)
    keep = sheets_with_content(s for p in portfolios for s in p.sheets)
    return DeletionPreview(_removal_blockers(portfolios), len(portfolios), len(keep))


# --- periods: edit and delete ------------------------------------------------------------------


def update_period(actor: User, period: Period, data: PeriodInput) -> UpdateResult:
    """Edit the parameters for all learners. The root annex never changes; objectives and
    activities flow to every liaison sheet except individualised fields; weeks added get
    sheets; sheets with content of removed weeks or learners move to the free sheets."""
    reason = period_lock_reason(period)
    if reason is not None:
        raise PeriodLocked(reason)
    name = _validate_name(data)
    start, end = _validate_dates(data)
    level = period.level
    current = set(
        db.session.scalars(select(Portfolio.learner_id).where(Portfolio.period_id == period.id))
    )
    learners = resolve_learners(level, data, current)
    _check_overlap(learners, start, end, period.id)
    objectives = _text(data.objectives, "objectives")
    activities = _text(data.activities, "activities")
    tasks = _tasks_of_level(level, data.task_ids)

    portfolios = _load_portfolios(period)
    wanted = {learner.id: learner for learner in learners}
    removed = [p for p in portfolios if p.learner_id not in wanted]
    staying = [p for p in portfolios if p.learner_id in wanted]
    blockers = _removal_blockers(removed)
    if blockers:
        raise FieldError("learner_ids", "Impossible de retirer cet apprenant. " + blockers[0])

    before = {
        "name": period.name,
        "start": period.start_date.isoformat(),
        "end": period.end_date.isoformat(),
    }
    period.name, period.start_date, period.end_date = name, start, end
    period.objectives, period.activities = objectives, activities
    period.tasks = tasks

    result = UpdateResult()
    keep = sheets_with_content(s for p in portfolios for s in p.sheets)
    weeks = timefmt.iso_weeks(start, end)
    for portfolio in removed:
        result.removed_learners.append(portfolio.learner.full_name)
        _dissolve_portfolio(portfolio, keep, result)
    for portfolio in staying:
        _sync_weeks(portfolio, weeks, keep, result)
        sheet = portfolio.liaison_sheet
        if sheet is None:
            portfolio.liaison_sheet = LiaisonSheet(objectives=objectives, activities=activities)
            continue
        if not sheet.objectives_individual:
            sheet.objectives = objectives
        if not sheet.activities_individual:
            sheet.activities = activities
    present = {p.learner_id for p in staying}
    for learner in learners:
        if learner.id not in present:
            _new_portfolio(period, learner, actor, weeks)
            result.added_learners.append(learner.full_name)
            result.added_sheets += len(weeks)
    db.session.flush()
    audit.record(
        actor,
        "period.updated",
        "period",
        period.id,
        before=before,
        after={"name": name, "start": start.isoformat(), "end": end.isoformat()},
        added_learners=[lid for lid in wanted if lid not in present],
        removed_learners=[p.learner_id for p in removed],
        moved_sheets=result.moved,
        added_sheets=result.added_sheets,
    )
    return result


def delete_period(actor: User, period: Period) -> int:
    """Delete the period and its portfolios (liaison sheets, journals, assessments); sheets
    with content move to the learners' free sheets. Returns how many moved."""
    portfolios = _load_portfolios(period)
    blockers = _removal_blockers(portfolios)
    if blockers:
        raise DomainError("La période ne peut pas être supprimée. " + " ".join(blockers))
    result = UpdateResult()
    keep = sheets_with_content(s for p in portfolios for s in p.sheets)
    for portfolio in portfolios:
        _dissolve_portfolio(portfolio, keep, result)
    period_id, name = period.id, period.name
    learner_ids = [p.learner_id for p in portfolios]
    db.session.flush()
    db.session.expire(period, ["portfolios"])
    db.session.delete(period)
    db.session.flush()
    audit.record(
        actor,
        "period.deleted",
        "period",
        period_id,
        name=name,
        learners=learner_ids,
        moved_sheets=result.moved,
        deleted_sheets=result.deleted_sheets,
    )
    return result.moved


def moved_message(moved: int) -> str:
    """ "7 fiches déplacées dans les fiches libres" (French plural)."""
    if moved == 0:
        return "aucune fiche déplacée dans les fiches libres"
    if moved == 1:
        return "1 fiche déplacée dans les fiches libres"
    return f"{moved} fiches déplacées dans les fiches libres"
