"""Who may see or do what — the single home of authorization rules (SPEC "Roles").

Predicates take the acting user and an already-loaded object and never query more than the
per-request cache below; scopes return SQL selects the pages filter with. Routes call
`ensure(...)`, which raises NotFound when the existence of the object must not leak, or
NotAllowed when the user may know it exists but may not act on it.
"""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import Select, bindparam, select
from werkzeug.local import LocalProxy

from app.errors import NotAllowed, NotFound
from app.extensions import db
from app.models import (
    ActivitySheet,
    Assessment,
    Learner,
    Level,
    Period,
    Portfolio,
    Role,
    Tutor,
    User,
)
from app.models.school import ClassGroup, teacher_levels

# --- roles -----------------------------------------------------------------------------------


def _role(user: Any) -> str | None:
    """The role of a signed-in user, None when signed out. Routes pass `current_user`, a proxy
    that resolves the user again on every attribute read (~12 calls): resolved once here."""
    if type(user) is LocalProxy:
        user = user._get_current_object()
    if not getattr(user, "is_authenticated", False):
        return None
    role: str = user.role
    return role


def is_admin(user: Any) -> bool:
    return _role(user) == Role.ADMIN


def is_teacher(user: Any) -> bool:
    return _role(user) == Role.TEACHER


def is_learner(user: Any) -> bool:
    return _role(user) == Role.LEARNER


def is_tutor(user: Any) -> bool:
    return _role(user) == Role.TUTOR


def is_master(user: Any) -> bool:
    if type(user) is LocalProxy:
        user = user._get_current_object()
    return is_tutor(user) and isinstance(user, Tutor) and user.is_master


def ensure(allowed: bool, *, hide: bool = True) -> None:
    """Refuse unless allowed: 404 when existence must not leak (default), else 403."""
    if not allowed:
        if hide:
            raise NotFound("Cette page n'existe pas ou n'est pas accessible.")
        raise NotAllowed("Vous n'avez pas le droit de faire cette action.")


# --- teacher levels (cached per request) ------------------------------------------------------


_LEVELS_OF_TEACHER = select(teacher_levels.c.level_id).where(
    teacher_levels.c.teacher_id == bindparam("teacher_id")
)


def teacher_level_ids(user: User) -> frozenset[int]:
    """Ids of the levels a teacher teaches; at most one query per request (none when the
    user loader brought them with the signed-in teacher: `remember_teacher_levels`)."""
    if type(user) is LocalProxy:
        user = user._get_current_object()
    if not is_teacher(user):
        return frozenset()
    cache: dict[int, frozenset[int]] = g.setdefault("_teacher_levels", {})
    levels = cache.get(user.id)
    if levels is None:
        rows = db.session.execute(_LEVELS_OF_TEACHER, {"teacher_id": user.id})
        levels = cache[user.id] = frozenset(row[0] for row in rows)
    return levels


def remember_teacher_levels(user_id: int, level_ids: frozenset[int]) -> None:
    """Seed this request's cache with levels loaded along with the user."""
    g.setdefault("_teacher_levels", {})[user_id] = level_ids


def can_view_level(user: User, level: Level | int) -> bool:
    level_id = level if isinstance(level, int) else level.id
    return level_id in teacher_level_ids(user)


# --- scopes -----------------------------------------------------------------------------------


def visible_levels(user: User) -> Select[Level]:
    """Levels shown in the left menu's selector."""
    query = select(Level).order_by(Level.position, Level.name)
    if is_teacher(user):
        return query.where(Level.id.in_(teacher_level_ids(user) or {-1}))
    return query.where(Level.id == -1)


def visible_learners(user: User) -> Select[Learner]:
    """Learners whose data the user may read."""
    query = select(Learner)
    if is_teacher(user):
        return query.join(ClassGroup, Learner.class_group_id == ClassGroup.id).where(
            ClassGroup.level_id.in_(teacher_level_ids(user) or {-1})
        )
    if is_learner(user):
        return query.where(Learner.id == user.id)
    if is_tutor(user):
        mentees = select(Portfolio.learner_id).where(Portfolio.tutor_id == user.id)
        return query.where(Learner.id.in_(mentees))
    return query.where(Learner.id == -1)


def visible_portfolios(user: User) -> Select[Portfolio]:
    query = select(Portfolio)
    if is_teacher(user):
        return query.join(Period, Portfolio.period_id == Period.id).where(
            Period.level_id.in_(teacher_level_ids(user) or {-1})
        )
    if is_learner(user):
        return query.where(Portfolio.learner_id == user.id)
    if is_tutor(user):
        return query.where(Portfolio.tutor_id == user.id)
    return query.where(Portfolio.id == -1)


# --- learners ---------------------------------------------------------------------------------


def learner_level_id(learner: Learner) -> int | None:
    return learner.class_group.level_id if learner.class_group else None


def can_view_learner(user: User, learner: Learner) -> bool:
    """Learner view and dashboard. Tutors see their mentees through portfolios only."""
    if is_learner(user):
        return user.id == learner.id
    if is_teacher(user):
        level_id = learner_level_id(learner)
        return level_id is not None and level_id in teacher_level_ids(user)
    return False


def can_manage_learner_data(user: User) -> bool:
    """Imports, exports and erasure of learners' personal data."""
    return is_admin(user)


# --- periods ----------------------------------------------------------------------------------


def can_view_period(user: User, period: Period) -> bool:
    return is_teacher(user) and period.level_id in teacher_level_ids(user)


def can_manage_periods(user: User, level: Level | int) -> bool:
    """Create, edit, delete periods and annexes of a level."""
    return is_teacher(user) and can_view_level(user, level)


# --- portfolios -------------------------------------------------------------------------------


def can_view_portfolio(user: User, portfolio: Portfolio) -> bool:
    if is_teacher(user):
        return portfolio.period.level_id in teacher_level_ids(user)
    if is_learner(user):
        return portfolio.learner_id == user.id
    if is_tutor(user):
        return portfolio.tutor_id == user.id
    return False


def can_teach_portfolio(user: User, portfolio: Portfolio) -> bool:
    """Pedagogical actions on a portfolio: liaison plan, framework links, documents."""
    return is_teacher(user) and portfolio.period.level_id in teacher_level_ids(user)


def can_edit_liaison_place(user: User, portfolio: Portfolio) -> bool:
    """ "Lieu de réalisation" is filled by the learner (the teacher may correct it)."""
    return (is_learner(user) and portfolio.learner_id == user.id) or can_teach_portfolio(
        user, portfolio
    )


def can_edit_liaison_plan(user: User, portfolio: Portfolio) -> bool:
    """Objectives and activities: the referent teacher, and an apprenticeship master."""
    if can_teach_portfolio(user, portfolio):
        return True
    return is_master(user) and portfolio.tutor_id == user.id


def can_invite_tutor(user: User, portfolio: Portfolio) -> bool:
    """Internship-tutor accounts are created by the teacher; masters by the admin."""
    return can_teach_portfolio(user, portfolio)


# --- activity sheets --------------------------------------------------------------------------


def can_view_sheet(user: User, sheet: ActivitySheet) -> bool:
    if is_learner(user):
        return sheet.learner_id == user.id
    if sheet.portfolio is None:  # free sheet: the learner and their teachers
        if is_teacher(user):
            return can_view_learner(user, sheet.learner)
        return False
    return can_view_portfolio(user, sheet.portfolio)


def can_write_sheet(user: User, sheet: ActivitySheet) -> bool:
    """Contexte, Fiche, Annexes and the learner's ticks: the owner only."""
    return is_learner(user) and sheet.learner_id == user.id


def can_link_sheet(user: User, sheet: ActivitySheet) -> bool:
    """The teacher's review on "Relier au référentiel"."""
    if not is_teacher(user):
        return False
    if sheet.portfolio is None:
        return can_view_learner(user, sheet.learner)
    return can_teach_portfolio(user, sheet.portfolio)


def can_write_journal(user: User, portfolio: Portfolio) -> bool:
    return is_learner(user) and portfolio.learner_id == user.id


def can_view_journal(user: User, portfolio: Portfolio) -> bool:
    """The learner, the teachers of the level and the tutor of that portfolio read it."""
    return can_view_portfolio(user, portfolio)


def can_add_sheet(user: User, portfolio: Portfolio) -> bool:
    """Complementary sheets: the learner of the portfolio or a teacher of the level."""
    return (is_learner(user) and portfolio.learner_id == user.id) or can_teach_portfolio(
        user, portfolio
    )


def can_create_free_sheet(user: User) -> bool:
    return is_learner(user)


def can_delete_sheet(user: User, sheet: ActivitySheet) -> bool:
    """The owner deletes complementary and free sheets; week sheets belong to the period."""
    return can_write_sheet(user, sheet) and sheet.kind != "week"


def can_attach_sheet(user: User, sheet: ActivitySheet, portfolio: Portfolio) -> bool:
    """A free sheet joins one of its owner's own periods."""
    return (
        can_write_sheet(user, sheet)
        and sheet.portfolio_id is None
        and portfolio.learner_id == sheet.learner_id
    )


# --- assessments ------------------------------------------------------------------------------


def can_view_assessment(user: User, assessment: Assessment) -> bool:
    portfolio = assessment.portfolio
    if is_learner(user):
        return portfolio.learner_id == user.id and assessment.is_completed
    return can_rate_assessment(user, assessment, ignore_status=True)


def can_assess_portfolio(user: User, portfolio: Portfolio) -> bool:
    """Teacher of the level and the tutor (either kind) of that learner for that period: the
    people who rate the portfolio's assessment jointly (whatever its status)."""
    return can_teach_portfolio(user, portfolio) or (
        is_tutor(user) and portfolio.tutor_id == user.id
    )


def can_rate_assessment(user: User, assessment: Assessment, *, ignore_status: bool = False) -> bool:
    """Teacher of the level and the tutor of that learner for that period rate jointly."""
    allowed = can_assess_portfolio(user, assessment.portfolio)
    return allowed and (ignore_status or not assessment.is_completed)


def can_complete_assessment(user: User, assessment: Assessment) -> bool:
    return can_teach_portfolio(user, assessment.portfolio)


def can_view_assessment_log(user: User, assessment: Assessment) -> bool:
    """Who changed what in an assessment: the admin and the teachers of its level."""
    return is_admin(user) or can_teach_portfolio(user, assessment.portfolio)


def can_view_dashboard(user: User, learner: Learner) -> bool:
    return can_view_learner(user, learner)


def can_write_interim_review(user: User, learner: Learner) -> bool:
    return is_teacher(user) and can_view_learner(user, learner)


# --- documents (SPEC F10) ---------------------------------------------------------------------


def can_print_pre_agreement(user: User, portfolio: Portfolio) -> bool:
    """The teacher of the level, and the learner their own (they take it to companies)."""
    return can_teach_portfolio(user, portfolio) or (
        is_learner(user) and portfolio.learner_id == user.id
    )


def can_print_period_pre_agreements(user: User, period: Period) -> bool:
    return can_view_period(user, period)


def can_print_meeting_grid(user: User, portfolio: Portfolio) -> bool:
    """Whoever rates the assessment: the teacher, and that learner's tutor for that period."""
    return can_assess_portfolio(user, portfolio)


def can_print_placement_summary(user: User, learner: Learner) -> bool:
    """The learner's teachers, and the learner (only completed assessments are shown)."""
    return can_view_learner(user, learner)


def can_view_level_synthesis(user: User, level: Level | int) -> bool:
    return is_teacher(user) and can_view_level(user, level)


# --- conventions and attestations of PFMP (issue 13 §3) -----------------------------------------


def can_view_convention(user: User, portfolio: Portfolio) -> bool:
    """Read and print: the teachers of the level, the learner (who carries it to the company
    and the family) and that portfolio's tutor (whose company signs it)."""
    return can_view_portfolio(user, portfolio)


def can_manage_convention(user: User, portfolio: Portfolio) -> bool:
    """Its details (parties, hours, financial annex), signatures and scan: the teachers."""
    return can_teach_portfolio(user, portfolio)


def can_print_period_conventions(user: User, period: Period) -> bool:
    return can_view_period(user, period)


def can_record_attendance(user: User, portfolio: Portfolio) -> bool:
    """Days done and absences: a teacher of the level, or the tutor of that learner for that
    period only (from their own account, often on a phone)."""
    return can_teach_portfolio(user, portfolio) or (
        is_tutor(user) and portfolio.tutor_id == user.id
    )


def can_view_attestation(user: User, portfolio: Portfolio) -> bool:
    return can_view_portfolio(user, portfolio)


# --- administration ---------------------------------------------------------------------------


def can_administer(user: User) -> bool:
    """School settings, accounts, apprenticeship masters, imports, audit log."""
    return is_admin(user)


# --- visits and reminders (issue 16) ------------------------------------------------------------


def followed_portfolios(user: User) -> Select[Portfolio]:
    """ "Mes visites": the portfolios of the teacher's levels of which they are the referent
    teacher, or that have no referent yet (joined with Period for date filters)."""
    query = select(Portfolio).join(Period, Portfolio.period_id == Period.id)
    if not is_teacher(user):
        return query.where(Portfolio.id == -1)
    return query.where(
        Period.level_id.in_(teacher_level_ids(user) or {-1}),
        (Portfolio.referent_teacher_id == user.id) | (Portfolio.referent_teacher_id.is_(None)),
    )


def can_plan_visit(user: User, portfolio: Portfolio) -> bool:
    """Plan, move, cancel the visit and write its report: the referent teacher (any teacher of
    the level while the portfolio has no referent)."""
    return can_teach_portfolio(user, portfolio) and portfolio.referent_teacher_id in (
        None,
        user.id,
    )


def can_read_visit_report(user: User, portfolio: Portfolio) -> bool:
    """The report is read by every teacher of the learner's level (the learner's teachers)."""
    return can_teach_portfolio(user, portfolio)


def can_view_visit(user: User, portfolio: Portfolio) -> bool:
    """When the visit takes place (and its .ics): the teachers, the tutor and the learner."""
    return can_view_portfolio(user, portfolio)


def can_manage_notifications(user: User) -> bool:
    """Each signed-in person chooses the reminders they get (admins get none)."""
    return is_teacher(user) or is_learner(user) or is_tutor(user)
