"""Company visits (issue 16): "Mes visites", planning / moving / cancelling a visit, its report,
and the .ics invitation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, make_response, render_template, request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app import access, htmx
from app.extensions import db
from app.models import Portfolio, Visit
from app.models.base import utcnow
from app.services import reminders
from app.services import sheets as sheet_service
from app.services import visits as service
from app.services.visits import VisitInputError
from app.timefmt import PARIS

bp = Blueprint("visits", __name__)

MAIL_FAILED = (
    "La visite est enregistrée, mais l'e-mail d'invitation n'a pas pu être envoyé ({reason}). "
    "Il sera renvoyé automatiquement au prochain passage des rappels ; vous pouvez aussi "
    "prévenir le tuteur par téléphone."
)


def _today() -> Any:
    return utcnow().astimezone(PARIS).date()


def _portfolio(portfolio_id: int, allowed: Any) -> Portfolio:
    portfolio = sheet_service.load_portfolio(portfolio_id)
    access.ensure(portfolio is not None and access.can_view_portfolio(current_user, portfolio))
    assert portfolio is not None
    access.ensure(allowed(current_user, portfolio), hide=False)
    return portfolio


@bp.get("/mes-visites")
@login_required
def index() -> Response:
    access.ensure(access.is_teacher(current_user), hide=False)
    sort = "ville" if request.args.get("tri") == "ville" else "date"
    lines = service.load_my_visits(current_user, _today(), sort)
    to_plan = sum(1 for line in lines if line.status == "to_plan")
    return htmx.render(
        "visits/page.html",
        "visits/_list.html",
        lines=lines,
        sort=sort,
        to_plan=to_plan,
        tel_href=service.tel_href,
    )


def _plan_page(
    portfolio: Portfolio, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    visit = service.visit_of(portfolio)
    html = render_template(
        "visits/plan.html",
        portfolio=portfolio,
        visit=visit,
        report=service.report_of(portfolio),
        values=values,
        errors=errors,
        days=service.period_days(portfolio.period),
        day_label=service.day_label,
        durations=service.DURATIONS,
        today=_today(),
        can_plan=access.can_plan_visit(current_user, portfolio),
        tel_href=service.tel_href,
    )
    return make_response(html, status)


def _values_of(visit: Visit | None, portfolio: Portfolio) -> dict[str, str]:
    address = portfolio.liaison_sheet.company_address if portfolio.liaison_sheet else ""
    if visit is None or visit.planned_start is None:
        return {"day": "", "start_time": "10:00", "duration": "60", "place": address}
    local = visit.planned_start.astimezone(PARIS)
    return {
        "day": local.date().isoformat(),
        "start_time": f"{local:%H:%M}",
        "duration": str(visit.duration_minutes),
        "place": visit.place or address,
    }


@bp.get("/portfolios/<int:portfolio_id>/visite")
@login_required
def plan(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id, access.can_read_visit_report)
    return _plan_page(portfolio, _values_of(service.visit_of(portfolio), portfolio), {})


def _invite(visit: Visit, done: str) -> None:
    """E-mail the .ics after the commit; the page says when it could not go."""
    result = reminders.send_invitations(visit)
    if result.failed:
        flash(MAIL_FAILED.format(reason=result.failed[0][1].rstrip(".")), "warning")
    elif result.sent:
        flash(f"{done} L'invitation (.ics) a été envoyée par e-mail.", "success")
    else:
        flash(done, "success")


@bp.post("/portfolios/<int:portfolio_id>/visite")
@login_required
def save_plan(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id, access.can_plan_visit)
    values = {key: request.form.get(key, "") for key in ("day", "start_time", "duration", "place")}
    was_planned = (visit := service.visit_of(portfolio)) is not None and visit.planned_start
    try:
        visit = service.plan_visit(
            portfolio,
            current_user,
            day_text=values["day"],
            time_text=values["start_time"],
            duration_text=values["duration"],
            place=values["place"],
        )
    except VisitInputError as error:
        db.session.rollback()
        return _plan_page(portfolio, values, {error.field: error.message}, 422)
    db.session.commit()
    _invite(visit, "Visite déplacée." if was_planned else "Visite planifiée.")
    return htmx.redirect(f"/portfolios/{portfolio.id}/visite")


@bp.post("/portfolios/<int:portfolio_id>/visite/annuler")
@login_required
def cancel(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id, access.can_plan_visit)
    visit = service.visit_of(portfolio)
    access.ensure(visit is not None)
    assert visit is not None
    service.cancel_visit(visit, current_user)
    db.session.commit()
    _invite(visit, "Visite annulée : elle est de nouveau à planifier.")
    return htmx.redirect(f"/portfolios/{portfolio.id}/visite")


@bp.post("/portfolios/<int:portfolio_id>/visite/effectuee")
@login_required
def done(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id, access.can_plan_visit)
    visit = service.visit_of(portfolio)
    access.ensure(visit is not None)
    assert visit is not None
    service.mark_done(visit)
    db.session.commit()
    flash("Visite marquée comme effectuée. Pensez au compte rendu.", "success")
    return htmx.redirect(f"/portfolios/{portfolio.id}/visite/compte-rendu")


def _report_page(
    portfolio: Portfolio, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    html = render_template(
        "visits/report.html",
        portfolio=portfolio,
        report=service.report_of(portfolio),
        visit=service.visit_of(portfolio),
        values=values,
        errors=errors,
        can_write=access.can_plan_visit(current_user, portfolio),
    )
    return make_response(html, status)


@bp.get("/portfolios/<int:portfolio_id>/visite/compte-rendu")
@login_required
def report(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id, access.can_read_visit_report)
    existing = service.report_of(portfolio)
    visit = service.visit_of(portfolio)
    if existing is not None:
        values = {
            "day": existing.done_on.isoformat(),
            "met": existing.met,
            "conditions": existing.conditions,
            "points_to_watch": existing.points_to_watch,
        }
    else:
        day = (
            visit.planned_start.astimezone(PARIS).date() if visit and visit.planned_start else None
        )
        values = {
            "day": day.isoformat() if day and day <= _today() else _today().isoformat(),
            "met": portfolio.tutor.full_name if portfolio.tutor else "",
            "conditions": "",
            "points_to_watch": "",
        }
    return _report_page(portfolio, values, {})


@bp.post("/portfolios/<int:portfolio_id>/visite/compte-rendu")
@login_required
def save_report(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id, access.can_plan_visit)
    values = {k: request.form.get(k, "") for k in ("day", "met", "conditions", "points_to_watch")}
    try:
        service.save_report(
            portfolio,
            current_user,
            done_on_text=values["day"],
            met=values["met"],
            conditions=values["conditions"],
            points_to_watch=values["points_to_watch"],
            today=_today(),
        )
    except VisitInputError as error:
        db.session.rollback()
        return _report_page(portfolio, values, {error.field: error.message}, 422)
    db.session.commit()
    flash("Compte rendu de visite enregistré.", "success")
    return htmx.redirect(f"/portfolios/{portfolio.id}/visite/compte-rendu")


@bp.get("/portfolios/<int:portfolio_id>/visite.ics")
@login_required
def ics(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id, access.can_view_visit)
    visit = service.visit_of(portfolio)
    access.ensure(visit is not None and bool(visit.planned_start or visit.cancelled_start))
    assert visit is not None
    full = service.load_for_ics(visit)
    attendees = [(name, email) for _u, name, email in service.invitation_recipients(full)]
    body = service.build_ics(visit, full, attendees, full.referent_teacher or visit.planned_by)
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{service.ics_filename(full)}"'
    return response


@bp.app_template_filter("paris_date")
def _paris_date(value: Any) -> Any:
    return value.astimezone(PARIS).date() if value is not None else None


@bp.app_template_filter("paris_time")
def _paris_time(value: Any) -> str:
    return f"{value.astimezone(PARIS):%H:%M}" if value is not None else ""
