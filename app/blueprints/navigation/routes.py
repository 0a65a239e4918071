"""The shell (SPEC F1): level selector, "Vue par périodes", "Vue par apprenants", work page.

Every URL here answers an htmx swap with the shell body partial and a direct open with the
whole page that includes that same partial."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from app import access, htmx
from app.extensions import db
from app.models import Learner, Level, Period
from app.services import navigation
from app.services import visits as visit_service

bp = Blueprint("navigation", __name__)

PAGE = "navigation/page.html"
BODY = "navigation/_shell_body.html"


def _get_or_404(model: Any, object_id: int, *options: Any) -> Any:
    obj = db.session.get(model, object_id, options=options)
    access.ensure(obj is not None)
    return obj


def _shell(menu: navigation.Menu, work: str, **context: Any) -> Response:
    return htmx.render(PAGE, BODY, menu=menu, work_template=work, **context)


@bp.get("/enseignant")
@login_required
def teacher_home() -> Response:
    access.ensure(access.is_teacher(current_user), hide=False)
    menu = navigation.load_menu(current_user, None, "periods")
    if menu.levels:
        return redirect(url_for("navigation.level_periods", level_id=menu.levels[0].id))
    return _shell(menu, "navigation/_no_level.html")


@bp.get("/niveaux")
@login_required
def choose_level() -> Response:
    """No-JavaScript fallback of the level selector."""
    level_id = request.args.get("level_id", type=int)
    access.ensure(level_id is not None and access.can_view_level(current_user, level_id))
    return redirect(url_for("navigation.level_periods", level_id=level_id))


@bp.get("/niveaux/<int:level_id>/periodes")
@login_required
def level_periods(level_id: int) -> Response:
    level = _get_or_404(Level, level_id)
    access.ensure(access.can_view_level(current_user, level))
    menu = navigation.load_menu(current_user, level, "periods")
    return _shell(menu, "navigation/_level_periods.html")


@bp.get("/niveaux/<int:level_id>/apprenants")
@login_required
def level_learners(level_id: int) -> Response:
    level = _get_or_404(Level, level_id)
    access.ensure(access.can_view_level(current_user, level))
    menu = navigation.load_menu(current_user, level, "learners")
    return _shell(menu, "navigation/_level_learners.html")


@bp.get("/periodes/<int:period_id>")
@login_required
def period_view(period_id: int) -> Response:
    period = _get_or_404(Period, period_id)
    access.ensure(access.can_view_period(current_user, period))
    menu = navigation.load_menu(current_user, period.level_id, "periods", period_id=period.id)
    folders = navigation.load_period_folders(current_user, period)
    counts = navigation.folder_counts(folders)
    return _shell(
        menu, "navigation/_period_view.html", period=period, folders=folders, counts=counts
    )


@bp.get("/apprenants/<int:learner_id>")
@login_required
def learner_view(learner_id: int) -> Response:
    # Its class comes with it: the access check and the menu read it.
    learner = _get_or_404(Learner, learner_id, joinedload(Learner.class_group))
    access.ensure(access.can_view_learner(current_user, learner))
    if access.is_learner(current_user):
        return redirect(url_for("navigation.learner_home"))
    level_id = access.learner_level_id(learner)
    menu = navigation.load_menu(current_user, level_id, "learners", learner_id=learner.id)
    view = navigation.load_learner_view(current_user, learner)
    return _shell(menu, "navigation/_learner_view.html", view=view)


@bp.get("/mes-portfolios")
@login_required
def learner_home() -> Response:
    access.ensure(access.is_learner(current_user), hide=False)
    view = navigation.load_learner_view(current_user, current_user)
    home_visits = visit_service.planned_for_learner(current_user)
    return htmx.render(
        "navigation/learner_home.html",
        "navigation/_learner_view.html",
        view=view,
        home_visits=home_visits,
    )


@bp.get("/mes-apprenants")
@login_required
def tutor_home() -> Response:
    access.ensure(access.is_tutor(current_user), hide=False)
    portfolios = navigation.load_tutor_mentees(current_user)
    home_visits = visit_service.planned_for_learner(current_user)
    return htmx.render(
        "navigation/tutor_home.html",
        "navigation/_mentees.html",
        portfolios=portfolios,
        home_visits=home_visits,
    )


@bp.get("/administration")
@login_required
def admin_home() -> Response:
    access.ensure(access.is_admin(current_user), hide=False)
    return htmx.render("navigation/admin_home.html", "navigation/_admin_home.html")
