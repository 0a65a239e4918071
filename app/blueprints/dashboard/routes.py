"""The learner dashboard (/apprenants/<lid>/tableau-de-bord) and interim reviews
(/apprenants/<lid>/bilans-intermediaires…)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, make_response, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app import access, htmx
from app.extensions import db
from app.models import Learner
from app.services import dashboard as dashboard_service
from app.services import interim_reviews

bp = Blueprint("dashboard", __name__)

SOURCES = {"tout": "all", "entreprise": "company", "ecole": "school"}


def _learner(learner_id: int) -> Learner:
    learner = db.session.get(Learner, learner_id)
    access.ensure(learner is not None and access.can_view_dashboard(current_user, learner))
    assert learner is not None
    return learner


@bp.get("/apprenants/<int:learner_id>/tableau-de-bord")
@login_required
def page(learner_id: int) -> Response:
    learner = _learner(learner_id)
    period_ids = set(request.args.getlist("periode", type=int)) or None
    source = SOURCES.get(request.args.get("source", "tout"), "all")
    board = dashboard_service.build_dashboard(learner, period_ids=period_ids, source=source)
    return htmx.render(
        "dashboard/page.html",
        "dashboard/_dashboard.html",
        board=board,
        learner=learner,
        can_review=access.can_write_interim_review(current_user, learner),
        source_param={v: k for k, v in SOURCES.items()}[board.source],
    )


@bp.get("/apprenants/<int:learner_id>/bilans-intermediaires")
@login_required
def reviews(learner_id: int) -> Response:
    learner = _learner(learner_id)
    return htmx.render(
        "dashboard/reviews.html",
        "dashboard/_reviews.html",
        learner=learner,
        reviews=interim_reviews.list_reviews(learner),
        can_review=access.can_write_interim_review(current_user, learner),
    )


def _form_context(learner: Learner, **extra: Any) -> dict[str, Any]:
    board = dashboard_service.build_dashboard(learner, source="company")
    usable = interim_reviews.usable_assessments(learner)
    context: dict[str, Any] = {
        "learner": learner,
        "board": board,
        "usable": usable,
        "errors": {},
        "values": {
            "review_date": date.today().isoformat(),
            "comment": "",
            "assessments": [a.id for a in usable],
            "positions": {},
            "notes": {},
        },
    }
    context.update(extra)
    return context


@bp.get("/apprenants/<int:learner_id>/bilans-intermediaires/nouveau")
@login_required
def new_review(learner_id: int) -> Response:
    learner = _learner(learner_id)
    access.ensure(access.can_write_interim_review(current_user, learner), hide=False)
    return make_response(render_template("dashboard/review_form.html", **_form_context(learner)))


def _parse_form(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """What the teacher typed, kept as typed, and the errors of its shape."""
    errors: dict[str, str] = {}
    raw_date = (form.get("review_date") or "").strip()
    review_date: date | None = None
    try:
        review_date = date.fromisoformat(raw_date) if raw_date else None
    except ValueError:
        errors["review_date"] = "Date invalide (format attendu : AAAA-MM-JJ)."
    ids: list[int] = []
    for value in form.getlist("assessments"):
        if value.isdigit():
            ids.append(int(value))
        else:
            errors["assessments"] = "Choisissez parmi les bilans entreprise complétés."
    positions: dict[int, str | None] = {}
    notes: dict[int, str] = {}
    for name, value in form.items():
        prefix, _, number = name.partition("-")
        if prefix not in ("pos", "note"):
            continue
        if not number.isdigit():
            errors["positions"] = "Compétence inconnue dans le référentiel de l'apprenant."
            continue
        if prefix == "pos":
            positions[int(number)] = value or None
        else:
            notes[int(number)] = value
    values = {
        "review_date": raw_date,
        "review_date_parsed": review_date,
        "comment": form.get("comment", ""),
        "assessments": ids,
        "positions": positions,
        "notes": notes,
    }
    return values, errors


@bp.post("/apprenants/<int:learner_id>/bilans-intermediaires/nouveau")
@login_required
def create_review(learner_id: int) -> Response:
    learner = _learner(learner_id)
    access.ensure(access.can_write_interim_review(current_user, learner), hide=False)
    values, errors = _parse_form(request.form)
    if not errors:
        try:
            review = interim_reviews.create_review(
                learner,
                current_user,
                review_date=values["review_date_parsed"],
                comment=values["comment"],
                assessment_ids=values["assessments"],
                positions=values["positions"],
                notes=values["notes"],
            )
        except interim_reviews.ReviewInvalid as invalid:
            errors = invalid.errors
    if errors:
        context = _form_context(learner, errors=errors, values=values)
        return make_response(render_template("dashboard/review_form.html", **context), 422)
    db.session.commit()
    flash("Bilan intermédiaire enregistré.", "success")
    return htmx.redirect(url_for("dashboard.review", learner_id=learner_id, review_id=review.id))


@bp.get("/apprenants/<int:learner_id>/bilans-intermediaires/<int:review_id>")
@login_required
def review(learner_id: int, review_id: int) -> Response:
    learner = _learner(learner_id)
    found = interim_reviews.load_review(learner, review_id)
    access.ensure(found is not None)
    board = dashboard_service.build_dashboard(learner, source="company")
    return make_response(
        render_template(
            "dashboard/review.html",
            learner=learner,
            review=found,
            board=board,
            can_review=access.can_write_interim_review(current_user, learner),
        )
    )
