"""The assessment page (/portfolios/<pid>/bilan) and its small endpoints: one item saved at
once (htmx answers with that item's fragment), history, conflict settling, criteria/global
toggle, completion and reopening, and the stylesheet of a framework's scale colours."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, flash, make_response, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response

from app import access, htmx
from app.blueprints.assessments.forms import ConflictForm, ItemForm, ModeForm
from app.errors import InvalidInput, NotFound
from app.extensions import db, objects_kept_on_commit, start_writing
from app.models import Assessment, AssessmentItem, Framework, ItemKind, Portfolio
from app.services import assessments as service
from app.services import events

bp = Blueprint("assessments", __name__)

PAGE = "assessments/page.html"
T = TypeVar("T")
_RETRIES = 6


def _portfolio(portfolio_id: int) -> Portfolio:
    portfolio = service.load_portfolio(portfolio_id)
    access.ensure(portfolio is not None and access.can_view_portfolio(current_user, portfolio))
    assert portfolio is not None
    return portfolio


def _assessment(portfolio: Portfolio) -> Assessment:
    """The portfolio's assessment, created when an assessor opens it for the first time."""
    assessment = portfolio.assessment
    if assessment is None:
        access.ensure(access.can_assess_portfolio(current_user, portfolio))
        if request.method == "GET":
            start_writing()
        assessment = service.get_or_create_assessment(portfolio)
        db.session.commit()
    access.ensure(access.can_view_assessment(current_user, assessment))
    return assessment


def _for_rating(portfolio_id: int) -> tuple[Portfolio, Assessment]:
    """Visible (404 otherwise) and rated by this user (403 for the learner, who reads it)."""
    portfolio = _portfolio(portfolio_id)
    assessment = _assessment(portfolio)
    access.ensure(
        access.can_rate_assessment(current_user, assessment, ignore_status=True), hide=False
    )
    return portfolio, assessment


def _page_context(assessment: Assessment, **extra: Any) -> dict[str, Any]:
    grid = service.build_grid(assessment)
    return {
        "grid": grid,
        "can_rate": access.can_rate_assessment(current_user, assessment),
        "is_teacher": access.can_complete_assessment(current_user, assessment),
        "errors": {},
        "submitted": {},
        **extra,
    }


def _page(assessment: Assessment, status: int = 200, **extra: Any) -> Response:
    response = make_response(render_template(PAGE, **_page_context(assessment, **extra)), status)
    response.vary.add("HX-Request")
    return response


def _commit_with_retry(action: Callable[[], T]) -> T:
    """Run a write and commit. SQLite (the single-machine default) admits one writer at a
    time and refuses a transaction that read before another one wrote ("database is
    locked"): roll back and start again, a few times. PostgreSQL never needs it: a rating
    locks only its own item row."""
    for attempt in range(_RETRIES):
        try:
            result = action()
            with objects_kept_on_commit():  # the answer shows what was just saved
                db.session.commit()
            return result
        except OperationalError as error:
            if "database is locked" not in str(error) or attempt == _RETRIES - 1:
                raise
            db.session.rollback()
            time.sleep(0.05 * (attempt + 1) + random.random() * 0.05)
    raise AssertionError("unreachable")


def _publish(assessment: Assessment, kind: str, **data: Any) -> None:
    events.publish(f"assessment:{assessment.id}", kind, **data)


def _item_response(
    assessment: Assessment,
    key: str,
    status: int = 200,
    written: AssessmentItem | None = None,
    **extra: Any,
) -> Response:
    """The item's fragment for htmx, the whole page otherwise; `written`: the item just
    saved, shown as it is in memory."""
    if not htmx.is_fragment_request():
        if status >= 400:
            return _page(
                assessment,
                status,
                errors={key: extra.get("error", "")},
                submitted={key: extra.get("typed", "")},
            )
        return htmx.redirect(
            url_for("assessments.page", portfolio_id=assessment.portfolio_id)
            + "#"
            + service.dom_id(key)
        )
    row = service.item_row(assessment, key, written)
    return htmx.render(
        PAGE,
        "assessments/_item_fragment.html",
        status,
        row=row,
        portfolio_id=assessment.portfolio_id,
        can_rate=access.can_rate_assessment(current_user, assessment),
        is_teacher=access.can_complete_assessment(current_user, assessment),
        **extra,
    )


@bp.get("/portfolios/<int:portfolio_id>/bilan")
@login_required
def page(portfolio_id: int) -> Response:
    assessment = _assessment(_portfolio(portfolio_id))
    return _page(assessment)


@bp.post("/portfolios/<int:portfolio_id>/bilan")
@login_required
def save_all(portfolio_id: int) -> Response:
    """The grid posted at once: the form's fallback when JavaScript is off."""
    _, assessment = _for_rating(portfolio_id)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    nested = db.session.begin_nested()
    results, errors = service.save_form(assessment, current_user, values)
    if errors:
        nested.rollback()  # all or nothing: the page comes back with what was typed
        return _page(assessment, 422, errors=errors, submitted=values)
    nested.commit()
    db.session.commit()
    for result in results:
        _publish(assessment, "item_saved", item_key=result.item.item_key, author_id=current_user.id)
    flash("Bilan enregistré." if results else "Aucune modification à enregistrer.", "success")
    return htmx.redirect(url_for("assessments.page", portfolio_id=portfolio_id))


@bp.get("/portfolios/<int:portfolio_id>/bilan/items/<item_key>")
@login_required
def item(portfolio_id: int, item_key: str) -> Response:
    assessment = _assessment(_portfolio(portfolio_id))
    try:
        service.item_row(assessment, item_key)
    except InvalidInput:
        raise NotFound("Cet élément n'existe pas dans le bilan.") from None
    if not htmx.is_fragment_request():
        return _page(assessment)  # a fragment URL opened directly: the whole page
    return _item_response(assessment, item_key)


@bp.post("/portfolios/<int:portfolio_id>/bilan/items/<item_key>")
@login_required
def save_item(portfolio_id: int, item_key: str) -> Response:
    """Save one item at once; answers with that item's small fragment."""
    _, assessment = _for_rating(portfolio_id)
    form = ItemForm()
    if not form.validate():
        raise InvalidInput("La valeur envoyée n'est pas valide.")
    value = form.value.data if form.value.data not in (None, "") else None
    try:
        user = current_user._get_current_object()  # the user, not the proxy
        result = _commit_with_retry(
            lambda: service.record_change(
                assessment,
                user,
                item_key,
                value,
                device_time=None,
                base_version=form.base_version.data,
            )
        )
    except InvalidInput as error:
        # Nothing was written (values are checked first).
        if item_key in (ItemKind.COMMENT, ItemKind.MEETING_DATE):
            # Keep what the person typed, with the message next to the field.
            return _item_response(
                assessment, item_key, 422, error=error.message, typed=form.value.data or ""
            )
        raise
    _publish(assessment, "item_saved", item_key=result.item.item_key, author_id=current_user.id)
    return _item_response(assessment, item_key, written=result.item, saved=True)


@bp.get("/portfolios/<int:portfolio_id>/bilan/items/<item_key>/historique")
@login_required
def history(portfolio_id: int, item_key: str) -> Response:
    """History of one item; `item_key` may be the key or its short field name ("c12")."""
    item_key = service.key_of_field(item_key)
    assessment = _assessment(_portfolio(portfolio_id))
    try:
        row = service.item_row(assessment, item_key)
    except InvalidInput:
        raise NotFound("Cet élément n'existe pas dans le bilan.") from None
    entries = service.item_history(assessment, item_key)
    return htmx.render(
        "assessments/history_page.html",
        "assessments/_history.html",
        row=row,
        entries=entries,
        portfolio_id=portfolio_id,
        can_rate=access.can_rate_assessment(current_user, assessment),
        inline=htmx.is_fragment_request(),
    )


@bp.post("/portfolios/<int:portfolio_id>/bilan/items/<item_key>/conflit")
@login_required
def resolve(portfolio_id: int, item_key: str) -> Response:
    """The teacher keeps the current value ("Garder") or restores the other one."""
    _, assessment = _for_rating(portfolio_id)
    form = ConflictForm()
    if not form.validate():
        raise InvalidInput("Choisissez « Garder » ou « Rétablir l'autre valeur ».")
    found = db.session.scalar(
        db.select(AssessmentItem).where(
            AssessmentItem.assessment_id == assessment.id, AssessmentItem.item_key == item_key
        )
    )
    access.ensure(found is not None)
    assert found is not None
    service.resolve_conflict(found, current_user, keep=form.keep.data == "1")
    db.session.commit()
    _publish(assessment, "item_saved", item_key=item_key, author_id=current_user.id)
    return _item_response(assessment, item_key)


@bp.post("/portfolios/<int:portfolio_id>/bilan/competences/<int:competency_id>/mode")
@login_required
def mode(portfolio_id: int, competency_id: int) -> Response:
    """Toggle a competency between rating its criteria and rating it as a whole."""
    _, assessment = _for_rating(portfolio_id)
    form = ModeForm()
    if not form.validate():
        raise InvalidInput("Mode d'évaluation inconnu.")
    service.set_competency_mode(assessment, current_user, competency_id, form.mode.data or "")
    db.session.commit()
    _publish(assessment, "mode_changed", competency_id=competency_id, author_id=current_user.id)
    if not htmx.is_fragment_request():
        return htmx.redirect(
            url_for("assessments.page", portfolio_id=portfolio_id) + f"#comp-{competency_id}"
        )
    return htmx.render(
        PAGE,
        "assessments/_competency_fragment.html",
        comp=service.competency_row(assessment, competency_id),
        scale=service.scale_of(service.framework_id_of(assessment.portfolio)),
        portfolio_id=portfolio_id,
        can_rate=True,
        is_teacher=access.can_complete_assessment(current_user, assessment),
    )


@bp.post("/portfolios/<int:portfolio_id>/bilan/completer")
@login_required
def complete(portfolio_id: int) -> Response:
    return _change_status(
        portfolio_id,
        service.complete,
        "Le bilan est complété : il alimente le tableau de bord de l'apprenant.",
    )


@bp.post("/portfolios/<int:portfolio_id>/bilan/rouvrir")
@login_required
def reopen(portfolio_id: int) -> Response:
    return _change_status(
        portfolio_id, service.reopen, "Le bilan est rouvert : il peut de nouveau être modifié."
    )


def _change_status(
    portfolio_id: int, change: Callable[[Assessment, Any], object], done: str
) -> Response:
    """Complete or reopen (the service checks who may), tell the other assessor, reload."""
    _, assessment = _for_rating(portfolio_id)
    change(assessment, current_user)
    db.session.commit()
    _publish(assessment, "status_changed", status=assessment.status, author_id=current_user.id)
    flash(done, "success")
    return htmx.redirect(url_for("assessments.page", portfolio_id=portfolio_id))


@bp.get("/bilans/echelle-<int:framework_id>.css")
@login_required
def scale_css(framework_id: int) -> Response:
    """The colours of a framework's scale, as CSS custom properties (colours are data; the
    CSP forbids inline styles)."""
    access.ensure(db.session.get(Framework, framework_id) is not None)
    scale = service.scale_of(framework_id)
    body = render_template(
        "assessments/scale.css", scale=scale, ink={s.code: service.ink_for(s.color) for s in scale}
    )
    response = make_response(body)
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
