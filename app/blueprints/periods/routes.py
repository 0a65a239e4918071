"""Periods (SPEC F3): root annexes, create a period, edit its parameters, delete it.

Pages render inside the shell (left menu of the level) so the teacher keeps their place."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from flask import Blueprint, flash, request
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, raiseload, selectinload
from werkzeug.wrappers import Response

from app import access, htmx
from app.blueprints.periods.forms import AnnexForm, ConfirmForm, PeriodForm
from app.errors import DomainError, PeriodLocked
from app.extensions import db
from app.models import (
    Activity,
    ClassGroup,
    Learner,
    Level,
    LiaisonSheet,
    PedagogicalAnnex,
    Period,
    Portfolio,
)
from app.services import navigation
from app.services import periods as service

bp = Blueprint("periods", __name__)


@bp.app_template_global("period_lock_reason")
def _period_lock_reason(period: Period) -> str | None:
    """For the period's action menu (periods/_period_actions.html)."""
    return service.period_lock_reason(period)


# --- helpers ------------------------------------------------------------------------------------


def _get_or_404(model: Any, object_id: int) -> Any:
    obj = db.session.get(model, object_id)
    access.ensure(obj is not None)
    return obj


def _level(level_id: int) -> Level:
    level: Level = _get_or_404(Level, level_id)
    access.ensure(access.can_manage_periods(current_user, level))
    return level


def _period(period_id: int) -> Period:
    # populate_existing: the shell may have loaded this period with raiseload("*") earlier
    # in the same session; our options replace those.
    period = db.session.scalar(
        select(Period)
        .where(Period.id == period_id)
        .options(joinedload(Period.level), joinedload(Period.annex), selectinload(Period.tasks))
        .execution_options(populate_existing=True)
    )
    access.ensure(period is not None)
    assert period is not None
    access.ensure(access.can_manage_periods(current_user, period.level_id))
    return period


def _annex(annex_id: int) -> PedagogicalAnnex:
    annex = db.session.scalar(
        select(PedagogicalAnnex)
        .where(PedagogicalAnnex.id == annex_id)
        .options(joinedload(PedagogicalAnnex.level), selectinload(PedagogicalAnnex.tasks))
        .execution_options(populate_existing=True)
    )
    access.ensure(annex is not None)
    assert annex is not None
    access.ensure(access.can_manage_periods(current_user, annex.level_id))
    return annex


def _shell(level: Level, work: str, status: int = 200, **context: Any) -> Response:
    period = context.get("period")
    menu = navigation.load_menu(
        current_user, level, "periods", period_id=period.id if period is not None else None
    )
    return htmx.render(
        "navigation/page.html",
        "navigation/_shell_body.html",
        status=status,
        menu=menu,
        work_template=work,
        **context,
    )


def _field_error(form: Any, error: service.FieldError) -> None:
    target = getattr(form, error.field, None)
    if target is None:
        target = form.name
    target.errors = [*list(target.errors or []), error.message]


def _activities(level: Level) -> list[Activity]:
    """The framework's activities and their tasks, for the task picker: 2 queries."""
    return list(
        db.session.scalars(
            select(Activity)
            .where(Activity.framework_id == level.framework_id)
            .order_by(Activity.position, Activity.id)
            .options(selectinload(Activity.tasks), raiseload("*"))
        )
    )


def _picker(level: Level, enrolled: list[Learner] | None = None) -> dict[str, Any]:
    """Classes with their learners, and the framework's tasks: 4 queries. Learners of the
    period who left the level (or were anonymised) are listed apart so they are not
    dropped by mistake."""
    classes = list(
        db.session.scalars(
            select(ClassGroup)
            .where(ClassGroup.level_id == level.id)
            .order_by(ClassGroup.name)
            .options(raiseload("*"))
        )
    )
    learners = navigation.learners_of_level(level.id)
    by_class = {
        key: list(group)
        for key, group in groupby(
            sorted(learners, key=lambda item: item.class_group_id or 0),
            key=lambda item: item.class_group_id,
        )
    }
    groups = [(group, by_class.get(group.id, [])) for group in classes]
    listed = {learner.id for learner in learners}
    others = [learner for learner in enrolled or [] if learner.id not in listed]
    return {"groups": groups, "others": others, "activities": _activities(level)}


def _picker_tasks(level: Level) -> dict[str, Any]:
    return {"activities": _activities(level)}


def _form_input(form: PeriodForm) -> service.PeriodInput:
    return service.PeriodInput(
        name=form.name.data or "",
        start_date=form.start_date.data,
        end_date=form.end_date.data,
        learner_ids=form.learner_ids.data or [],
        class_ids=form.class_ids.data or [],
        objectives=form.objectives.data or "",
        activities=form.activities.data or "",
        task_ids=form.task_ids.data or [],
    )


def _annex_input(form: AnnexForm) -> service.AnnexInput:
    return service.AnnexInput(
        name=form.name.data or "",
        objectives=form.objectives.data or "",
        activities=form.activities.data or "",
        task_ids=form.task_ids.data or [],
    )


# --- annexes ------------------------------------------------------------------------------------


@bp.get("/niveaux/<int:level_id>/annexes")
@login_required
def annexes(level_id: int) -> Response:
    level = _level(level_id)
    items = service.annexes_of_level(level.id)
    return _shell(level, "periods/_annexes.html", annexes=items)


@bp.route("/niveaux/<int:level_id>/annexes/nouvelle", methods=["GET", "POST"])
@login_required
def annex_new(level_id: int) -> Response:
    level = _level(level_id)
    form = AnnexForm()
    status = 200
    if form.validate_on_submit():
        try:
            annex = service.create_annex(current_user, level, _annex_input(form))
        except service.FieldError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash(f"Annexe pédagogique « {annex.name} » créée.", "success")
            return htmx.redirect(f"/niveaux/{level.id}/annexes")
    if form.is_submitted():
        status = 422
    return _shell(
        level, "periods/_annex_form.html", status, form=form, annex=None, **_picker_tasks(level)
    )


@bp.route("/annexes/<int:annex_id>", methods=["GET", "POST"])
@login_required
def annex_edit(annex_id: int) -> Response:
    annex = _annex(annex_id)
    level = annex.level
    form = AnnexForm(obj=annex)
    if not form.is_submitted():
        form.task_ids.data = [task.id for task in annex.tasks]
    status = 200
    if form.validate_on_submit():
        try:
            service.update_annex(current_user, annex, _annex_input(form))
        except service.FieldError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash(f"Annexe pédagogique « {annex.name} » enregistrée.", "success")
            return htmx.redirect(f"/niveaux/{level.id}/annexes")
    if form.is_submitted():
        status = 422
    return _shell(
        level, "periods/_annex_form.html", status, form=form, annex=annex, **_picker_tasks(level)
    )


@bp.post("/annexes/<int:annex_id>/supprimer")
@login_required
def annex_delete(annex_id: int) -> Response:
    annex = _annex(annex_id)
    level_id, name = annex.level_id, annex.name
    service.delete_annex(current_user, annex)
    db.session.commit()
    flash(
        f"Annexe pédagogique « {name} » supprimée (les périodes créées à partir d'elle sont "
        "conservées).",
        "success",
    )
    return htmx.redirect(f"/niveaux/{level_id}/annexes")


# --- create a period ----------------------------------------------------------------------------


@bp.route("/niveaux/<int:level_id>/periodes/nouvelle", methods=["GET", "POST"])
@login_required
def period_new(level_id: int) -> Response:
    level = _level(level_id)
    annexes = service.annexes_of_level(level.id)
    form = PeriodForm()
    annex: PedagogicalAnnex | None = None
    annex_id = form.annex_id.data if form.is_submitted() else request.args.get("annexe", type=int)
    annex_error = None
    if annex_id:
        annex = next((item for item in annexes if item.id == annex_id), None)
        if annex is None:
            annex_error = "Cette annexe pédagogique n'existe pas pour ce niveau."
    if not form.is_submitted() and annex is not None:
        form.annex_id.data = annex.id
        form.objectives.data = annex.objectives
        form.activities.data = annex.activities
        form.task_ids.data = [task.id for task in annex.tasks]
    status = 200
    valid = form.validate_on_submit()
    if annex_error:
        form.annex_id.errors = [*list(form.annex_id.errors or []), annex_error]
    if valid and annex_error is None:
        try:
            period = service.create_period(current_user, level, _form_input(form), annex)
        except service.FieldError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            count = len(period.portfolios)
            flash(
                f"Période « {period.name} » créée : {count} portfolio{'s' if count > 1 else ''} "
                f"générés, avec une fiche activité par semaine.",
                "success",
            )
            return htmx.redirect(f"/periodes/{period.id}")
    if form.is_submitted():
        status = 422
    return _shell(
        level,
        "periods/_period_form.html",
        status,
        form=form,
        annexes=annexes,
        annex=annex,
        editing=None,
        **_picker(level),
    )


# --- edit parameters ----------------------------------------------------------------------------


@bp.route("/periodes/<int:period_id>/parametres", methods=["GET", "POST"])
@login_required
def period_edit(period_id: int) -> Response:
    period = _period(period_id)
    level = period.level
    lock = service.period_lock_reason(period)
    if lock is not None:
        if request.method == "POST":
            raise PeriodLocked(lock)
        return _shell(level, "periods/_period_locked.html", period=period, lock=lock)
    form = PeriodForm(obj=period)
    enrolled = list(
        db.session.scalars(
            select(Learner)
            .join(Portfolio, Portfolio.learner_id == Learner.id)
            .where(Portfolio.period_id == period.id)
            .order_by(Learner.last_name, Learner.first_name)
            .options(raiseload("*"))
        )
    )
    if not form.is_submitted():
        form.learner_ids.data = [learner.id for learner in enrolled]
        form.task_ids.data = [task.id for task in period.tasks]
    status = 200
    if form.validate_on_submit():
        try:
            result = service.update_period(current_user, period, _form_input(form))
        except service.FieldError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            _flash_update(result)
            return htmx.redirect(f"/periodes/{period.id}")
    if form.is_submitted():
        status = 422
    individual = db.session.scalar(
        select(func.count())
        .select_from(LiaisonSheet)
        .join(Portfolio, LiaisonSheet.portfolio_id == Portfolio.id)
        .where(
            Portfolio.period_id == period.id,
            or_(LiaisonSheet.objectives_individual, LiaisonSheet.activities_individual),
        )
    )
    return _shell(
        level,
        "periods/_period_form.html",
        status,
        form=form,
        period=period,
        editing=period,
        annex=period.annex,
        annexes=[],
        individual_count=individual or 0,
        **_picker(level, enrolled),
    )


def _flash_update(result: service.UpdateResult) -> None:
    parts = ["Paramètres de la période enregistrés pour tous les apprenants"]
    if result.added_learners:
        parts.append(
            "ajouté"
            + ("s" if len(result.added_learners) > 1 else "")
            + " : "
            + ", ".join(result.added_learners)
        )
    if result.removed_learners:
        parts.append(
            "retiré"
            + ("s" if len(result.removed_learners) > 1 else "")
            + " : "
            + ", ".join(result.removed_learners)
        )
    if result.added_sheets:
        parts.append(
            f"{result.added_sheets} fiche{'s' if result.added_sheets > 1 else ''} "
            f"activité ajoutée{'s' if result.added_sheets > 1 else ''}"
        )
    if result.moved:
        parts.append(service.moved_message(result.moved))
    flash(" ; ".join(parts) + ".", "warning" if result.moved else "success")


# --- delete -------------------------------------------------------------------------------------


@bp.route("/periodes/<int:period_id>/supprimer", methods=["GET", "POST"])
@login_required
def period_delete(period_id: int) -> Response:
    period = _period(period_id)
    level = period.level
    form = ConfirmForm()
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        name = period.name
        try:
            moved = service.delete_period(current_user, period)
        except DomainError:
            status = 409  # the page below lists the reasons
        else:
            db.session.commit()
            flash(f"Période « {name} » supprimée ; {service.moved_message(moved)}.", "success")
            return htmx.redirect(f"/niveaux/{level.id}/periodes")
    preview = service.deletion_preview(period)
    return _shell(
        level, "periods/_period_delete.html", status, form=form, period=period, preview=preview
    )
