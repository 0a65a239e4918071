"""Liaison sheet (SPEC F4): "Lieu de réalisation", "Objectifs", "Activités"; the internship
tutor's account and invitation link; accepting an invitation."""

from __future__ import annotations

from typing import Any

import segno
from flask import Blueprint, current_app, flash, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from app import access, htmx, timefmt
from app.blueprints.liaison.forms import AcceptInvitationForm, PlaceForm, PlanForm, TutorForm
from app.errors import NotFound
from app.extensions import db
from app.models import Learner, LiaisonSheet, Period, Portfolio
from app.services import invitations, liaison, mail
from app.services.periods import FieldError

bp = Blueprint("liaison", __name__)

TABS = (
    ("place", "Lieu de réalisation", "liaison.place"),
    ("objectives", "Objectifs", "liaison.objectives"),
    ("activities", "Activités", "liaison.activities"),
)


# --- helpers ------------------------------------------------------------------------------------


def _portfolio(portfolio_id: int) -> Portfolio:
    """The portfolio with what the liaison pages show, in one query; 404 unless visible."""
    portfolio = db.session.scalar(
        select(Portfolio)
        .where(Portfolio.id == portfolio_id)
        .options(
            joinedload(Portfolio.period).joinedload(Period.level),
            joinedload(Portfolio.learner).joinedload(Learner.class_group),
            joinedload(Portfolio.tutor),
            joinedload(Portfolio.liaison_sheet),
        )
        .execution_options(populate_existing=True)
    )
    access.ensure(portfolio is not None and access.can_view_portfolio(current_user, portfolio))
    assert portfolio is not None
    return portfolio


def _sheet_for_display(portfolio: Portfolio) -> LiaisonSheet:
    """The stored sheet, or an unsaved one pre-filled from the period (a GET never writes)."""
    if portfolio.liaison_sheet is not None:
        return portfolio.liaison_sheet
    return LiaisonSheet(
        objectives=portfolio.period.objectives,
        activities=portfolio.period.activities,
        objectives_individual=False,
        activities_individual=False,
        company_name="",
        company_siret="",
        company_address="",
        company_phone="",
        tutor_name="",
        tutor_role="",
        tutor_email="",
        tutor_phone="",
    )


def back_link(portfolio: Portfolio) -> tuple[str, str]:
    if access.is_teacher(current_user):
        return f"/periodes/{portfolio.period_id}", "Retour à la période"
    if access.is_learner(current_user):
        return "/mes-portfolios", "Retour à mes portfolios"
    return "/mes-apprenants", "Retour à mes apprenants"


def _render(portfolio: Portfolio, tab: str, status: int = 200, **context: Any) -> Response:
    sheet = context.pop("sheet", None) or _sheet_for_display(portfolio)
    tutor = portfolio.tutor
    pending = None
    if (
        tutor is not None
        and not tutor.password_hash
        and access.can_invite_tutor(current_user, portfolio)
    ):
        pending = invitations.pending_invitation(tutor)
    return htmx.render(
        "liaison/page.html",
        "liaison/_sheet.html",
        status=status,
        portfolio=portfolio,
        sheet=sheet,
        tab=tab,
        tabs=TABS,
        back=back_link(portfolio),
        can_edit_place=access.can_edit_liaison_place(current_user, portfolio),
        can_edit_plan=access.can_edit_liaison_plan(current_user, portfolio),
        can_invite=access.can_invite_tutor(current_user, portfolio),
        pending=pending,
        **context,
    )


def _field_error(form: Any, error: FieldError) -> None:
    target = getattr(form, error.field, None) or getattr(form, "text", None)
    if target is not None:
        target.errors = [*list(target.errors or []), error.message]


# --- Lieu de réalisation ------------------------------------------------------------------------


@bp.route("/portfolios/<int:portfolio_id>/liaison", methods=["GET", "POST"])
@login_required
def place(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    sheet = _sheet_for_display(portfolio)
    form = PlaceForm(obj=sheet)
    status = 200
    if form.is_submitted():
        access.ensure(access.can_edit_liaison_place(current_user, portfolio), hide=False)
        status = 422
    if form.validate_on_submit():
        try:
            liaison.update_place(
                current_user,
                liaison.ensure_sheet(portfolio),
                liaison.PlaceInput(**{name: form[name].data or "" for name in _PLACE_FIELDS}),
            )
        except FieldError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash("Lieu de réalisation enregistré.", "success")
            return htmx.redirect(url_for("liaison.place", portfolio_id=portfolio.id))
    return _render(portfolio, "place", status, form=form, sheet=sheet)


_PLACE_FIELDS = (
    "company_name",
    "company_siret",
    "company_address",
    "company_phone",
    "tutor_name",
    "tutor_role",
    "tutor_email",
    "tutor_phone",
)


# --- Objectifs / Activités ----------------------------------------------------------------------


_PLAN_MESSAGES = {
    "objectives": {
        "individual": "Objectifs individualisés pour {} : ils seront conservés si les "
        "paramètres de la période changent.",
        "shared": "Objectifs enregistrés (identiques à ceux de la période).",
        "reset": "Objectifs : contenu de la période rétabli pour cet apprenant.",
    },
    "activities": {
        "individual": "Activités individualisées pour {} : elles seront conservées si les "
        "paramètres de la période changent.",
        "shared": "Activités enregistrées (identiques à celles de la période).",
        "reset": "Activités : contenu de la période rétabli pour cet apprenant.",
    },
}


def _plan(portfolio_id: int, field_name: liaison.PlanField) -> Response:
    portfolio = _portfolio(portfolio_id)
    sheet = _sheet_for_display(portfolio)
    form = PlanForm(data={"text": getattr(sheet, field_name)})
    form.text.label.text = (
        "Objectifs de cet apprenant" if field_name == "objectives" else "Activités de cet apprenant"
    )
    status = 200
    if form.is_submitted():
        access.ensure(access.can_edit_liaison_plan(current_user, portfolio), hide=False)
        status = 422
    if form.validate_on_submit():
        stored = liaison.ensure_sheet(portfolio)
        endpoint = "liaison.objectives" if field_name == "objectives" else "liaison.activities"
        try:
            if request.form.get("action") == "reset":
                liaison.reset_plan(current_user, stored, field_name)
                message = _PLAN_MESSAGES[field_name]["reset"]
            else:
                individual = liaison.update_plan(
                    current_user, stored, field_name, form.text.data or ""
                )
                key = "individual" if individual else "shared"
                message = _PLAN_MESSAGES[field_name][key].format(portfolio.learner.full_name)
        except FieldError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash(message, "success")
            return htmx.redirect(url_for(endpoint, portfolio_id=portfolio.id))
    return _render(portfolio, field_name, status, form=form, sheet=sheet)


@bp.route("/portfolios/<int:portfolio_id>/liaison/objectifs", methods=["GET", "POST"])
@login_required
def objectives(portfolio_id: int) -> Response:
    return _plan(portfolio_id, "objectives")


@bp.route("/portfolios/<int:portfolio_id>/liaison/activites", methods=["GET", "POST"])
@login_required
def activities(portfolio_id: int) -> Response:
    return _plan(portfolio_id, "activities")


# --- tutor account ------------------------------------------------------------------------------


def invitation_url(token: str) -> str:
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return f"{base.rstrip('/')}/invitation/{token}"
    return url_for("liaison.accept_invitation", token=token, _external=True)


def qr_svg(url: str) -> Markup:
    """The link as an inline SVG QR code, built on the server (no script, no style)."""
    svg = segno.make(url, error="m").svg_inline(
        scale=4, omitsize=True, svgclass="qr", lineclass="qr-line"
    )
    labelled = svg.replace("<svg ", '<svg role="img" aria-label="QR code du lien" ', 1)
    return Markup(labelled)  # noqa: S704  # nosec B704  # segno's markup: paths only, no text


def _invitation_mail(portfolio: Portfolio, tutor_first_name: str, url: str, expires: str) -> str:
    learner, period = portfolio.learner, portfolio.period
    return (
        f"Bonjour {tutor_first_name},\n\n"
        f"{current_user.full_name}, professeur référent, vous invite à suivre "
        f"{learner.full_name} pendant sa période en entreprise « {period.name} » "
        f"(du {timefmt.fr_date(period.start_date)} au {timefmt.fr_date(period.end_date)}) "
        "sur Passerelle.\n\n"
        "Pour créer votre mot de passe et accéder à sa fiche de liaison, ouvrez ce lien "
        f"(utilisable une seule fois, jusqu'au {expires}) :\n\n{url}\n\n"
        "Si vous n'attendiez pas ce message, ignorez-le.\n"
    )


def _tutor_form_defaults(portfolio: Portfolio) -> dict[str, str]:
    sheet = portfolio.liaison_sheet
    if sheet is None:
        return {}
    first, _, last = (sheet.tutor_name or "").strip().partition(" ")
    return {
        "first_name": first,
        "last_name": last,
        "email": sheet.tutor_email,
        "phone": sheet.tutor_phone,
        "job_title": sheet.tutor_role,
        "company_name": sheet.company_name,
    }


@bp.route("/portfolios/<int:portfolio_id>/tuteur", methods=["GET", "POST"])
@login_required
def tutor(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_invite_tutor(current_user, portfolio), hide=False)
    form = TutorForm(data=_tutor_form_defaults(portfolio))
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        data = invitations.TutorInput(
            first_name=form.first_name.data or "",
            last_name=form.last_name.data or "",
            email=form.email.data or "",
            phone=form.phone.data or "",
            job_title=form.job_title.data or "",
            company_name=form.company_name.data or "",
        )
        try:
            issued = invitations.invite_internship_tutor(
                current_user, portfolio, data, current_app.config["INVITATION_TTL"]
            )
        except FieldError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            if issued.token is None:
                flash(
                    f"{issued.tutor.full_name} a déjà un compte : {portfolio.learner.full_name} "
                    "apparaît désormais dans « Mes apprenants » quand il se connecte.",
                    "success",
                )
                return htmx.redirect(url_for("liaison.place", portfolio_id=portfolio.id))
            assert issued.invitation is not None
            url = invitation_url(issued.token)
            expires = timefmt.fr_datetime(issued.invitation.expires_at)
            mailed = mail.is_configured() and mail.send(
                issued.tutor.email or "",
                "Votre accès à Passerelle",
                _invitation_mail(portfolio, issued.tutor.first_name, url, expires),
            )
            # Post/redirect/get: reloading the page must not issue a new link, which would
            # revoke the one the teacher may already have passed on.
            session[SHOWN_LINK] = {
                "portfolio_id": portfolio.id,
                "token": issued.token,
                "mailed": mailed,
            }
            return htmx.redirect(url_for("liaison.invitation_link", portfolio_id=portfolio.id))
    return htmx.render(
        "liaison/tutor.html",
        "liaison/_tutor_form.html",
        status=status,
        portfolio=portfolio,
        form=form,
        invitation_shown=False,
        back=back_link(portfolio),
    )


SHOWN_LINK = "invitation_link"  # session key: the link to show once, after the redirect


@bp.get("/portfolios/<int:portfolio_id>/tuteur/lien")
@login_required
def invitation_link(portfolio_id: int) -> Response:
    """The link just issued, with its QR code: shown once (the token is only known at issue
    time; the database keeps its hash). Opened again, it points to the liaison sheet."""
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_invite_tutor(current_user, portfolio), hide=False)
    shown = session.pop(SHOWN_LINK, None)
    if not isinstance(shown, dict) or shown.get("portfolio_id") != portfolio.id:
        shown = {}
    token, mailed = str(shown.get("token", "")), bool(shown.get("mailed"))
    invitation = None
    if token:
        try:
            invitation = invitations.find_invitation(token)
        except (NotFound, invitations.InvitationGone):
            invitation = None
    if invitation is None:
        flash(
            "Le lien d'invitation n'est affiché qu'une fois. Pour en obtenir un nouveau, "
            "utilisez « Nouveau lien d'invitation » dans la fiche de liaison.",
            "info",
        )
        return htmx.redirect(url_for("liaison.place", portfolio_id=portfolio.id))
    url = invitation_url(token)
    return htmx.render(
        "liaison/tutor.html",
        "liaison/_invitation_link.html",
        portfolio=portfolio,
        invitation_shown=True,
        tutor=invitation.user,
        url=url,
        qr=qr_svg(url),
        expires=timefmt.fr_datetime(invitation.expires_at),
        mailed=mailed,
        mail_configured=mail.is_configured(),
        back=back_link(portfolio),
    )


# --- accepting an invitation --------------------------------------------------------------------


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> Response | tuple[str, int]:
    """GET only shows the page (mail scanners follow links); the POST uses the link."""
    try:
        invitation = invitations.find_invitation(token)
    except (NotFound, invitations.InvitationGone) as error:
        return render_template("liaison/invitation_invalid.html", message=error.message), (
            error.status
        )
    form = AcceptInvitationForm()
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        user = invitations.accept_invitation(token, form.password.data or "")
        db.session.commit()
        login_user(user)
        flash(f"Bienvenue {user.first_name} ! Votre mot de passe est enregistré.", "success")
        return htmx.redirect("/")
    return render_template(
        "liaison/invitation.html", form=form, invitation=invitation, user=invitation.user
    ), status
