"""Conventions and attestations of PFMP (issue 13 §3): the convention page (details,
signatures, scan), its DOCX/PDF, the attendance form of the attestation and its PDF, and the
one-file batches of a period."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import RequestEntityTooLarge

from app import access, htmx
from app.blueprints.conventions.forms import (
    AttendanceForm,
    DetailsForm,
    ScanForm,
    SignatureForm,
)
from app.errors import InvalidInput
from app.extensions import db
from app.models import Convention, Learner, Period, Portfolio
from app.services import attachments, attestations, conventions
from app.services.documents import attestation as attestation_doc
from app.services.documents import convention as convention_doc
from app.services.documents import school_identity
from app.services.documents.pre_agreement import download_name
from app.services.periods import FieldError

bp = Blueprint("conventions", __name__)

PDF_MIMETYPE = "application/pdf"
_DETAIL_FIELDS = tuple(conventions.DetailsInput.__dataclass_fields__)


# --- helpers ------------------------------------------------------------------------------------


def _portfolio(portfolio_id: int) -> Portfolio:
    """The portfolio with its period, learner, tutor and liaison sheet; 404 unless visible."""
    portfolio = db.session.scalar(
        select(Portfolio)
        .where(Portfolio.id == portfolio_id)
        .options(
            joinedload(Portfolio.period),
            joinedload(Portfolio.learner).joinedload(Learner.class_group),
            joinedload(Portfolio.tutor),
            joinedload(Portfolio.liaison_sheet),
        )
    )
    access.ensure(portfolio is not None and access.can_view_portfolio(current_user, portfolio))
    assert portfolio is not None
    return portfolio


def _period(period_id: int) -> Period:
    period = db.session.get(Period, period_id)
    access.ensure(period is not None and access.can_print_period_conventions(current_user, period))
    assert period is not None
    return period


def _convention(portfolio: Portfolio) -> Convention | None:
    return db.session.scalar(select(Convention).where(Convention.portfolio_id == portfolio.id))


def _field_error(form: Any, error: FieldError) -> None:
    target = getattr(form, error.field, None)
    if target is None:
        flash(error.message, "error")
        return
    target.errors = [*list(target.errors or []), error.message]


def _back(portfolio: Portfolio) -> tuple[str, str]:
    if access.is_teacher(current_user):
        return f"/periodes/{portfolio.period_id}", "Retour à la période"
    if access.is_learner(current_user):
        return "/mes-portfolios", "Retour à mes portfolios"
    return "/mes-apprenants", "Retour à mes apprenants"


def _send(body: bytes, mimetype: str, filename: str, *, inline: bool) -> Response:
    response = Response(body, mimetype=mimetype)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _page(
    portfolio: Portfolio,
    status: int = 200,
    *,
    details: DetailsForm | None = None,
    signature: SignatureForm | None = None,
    scan: ScanForm | None = None,
) -> Response:
    convention = _convention(portfolio) or conventions.blank_convention(portfolio)
    today = conventions.today().isoformat()
    step = conventions.next_step(convention)
    if details is None:
        details = DetailsForm(formdata=None, obj=convention)
        if convention.weekly_hours is not None:
            details.weekly_hours.data = f"{convention.weekly_hours:f}".removesuffix(".0")
    if signature is None:
        signature = SignatureForm(formdata=None, data={"signed_on": today})
    if step is not None:
        signature.state.data = step.state
    recorders = {
        user.id: user.full_name
        for user in (
            convention.company_recorded_by,
            convention.family_recorded_by,
            convention.head_recorded_by,
        )
        if user is not None
    }
    return htmx.render(
        "conventions/page.html",
        "conventions/_convention.html",
        status=status,
        portfolio=portfolio,
        convention=convention,
        steps=conventions.STEPS,
        next_step=step,
        done=len(conventions.done_steps(convention)),
        recorders=recorders,
        minor=conventions.learner_is_minor(portfolio.learner, portfolio.period),
        can_manage=access.can_manage_convention(current_user, portfolio),
        details=details,
        signature=signature,
        scan=scan or ScanForm(formdata=None, data={"signed_on": today}),
        human_size=attachments.human_size,
        back=_back(portfolio),
    )


# --- the convention page ------------------------------------------------------------------------


@bp.route("/portfolios/<int:portfolio_id>/convention", methods=["GET", "POST"])
@login_required
def convention_page(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_view_convention(current_user, portfolio))
    if request.method == "GET":
        return _page(portfolio)
    access.ensure(access.can_manage_convention(current_user, portfolio), hide=False)
    form = DetailsForm()
    if form.validate_on_submit():
        data = conventions.DetailsInput(**{n: form[n].data or "" for n in _DETAIL_FIELDS})
        minor = conventions.learner_is_minor(portfolio.learner, portfolio.period)
        try:
            conventions.update_details(
                current_user, conventions.ensure_convention(portfolio), data, minor=minor
            )
        except FieldError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()
            flash("Informations de la convention enregistrées.", "success")
            return htmx.redirect(url_for("conventions.convention_page", portfolio_id=portfolio_id))
    return _page(_portfolio(portfolio_id), 422, details=form)


@bp.post("/portfolios/<int:portfolio_id>/convention/signature")
@login_required
def record_signature(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_manage_convention(current_user, portfolio), hide=False)
    form = SignatureForm()
    try:
        signed_on = conventions.parse_day(form.signed_on.data, "signed_on")
        step = conventions.record_signature(
            current_user, conventions.ensure_convention(portfolio), form.state.data or "", signed_on
        )
    except FieldError as error:
        db.session.rollback()
        _field_error(form, error)
    except InvalidInput as error:
        db.session.rollback()
        form.signed_on.errors = [error.message]
    else:
        db.session.commit()
        flash(f"Signature {step.signer} enregistrée.", "success")
        return htmx.redirect(url_for("conventions.convention_page", portfolio_id=portfolio_id))
    return _page(_portfolio(portfolio_id), 422, signature=form)


@bp.post("/portfolios/<int:portfolio_id>/convention/signature/annuler")
@login_required
def undo_signature(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_manage_convention(current_user, portfolio), hide=False)
    convention = _convention(portfolio)
    if convention is None:
        flash("Aucune signature n'est enregistrée sur cette convention.", "error")
        return htmx.redirect(url_for("conventions.convention_page", portfolio_id=portfolio_id))
    try:
        step = conventions.undo_signature(current_user, convention)
    except InvalidInput as error:
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"Signature {step.signer} retirée.", "success")
    return htmx.redirect(url_for("conventions.convention_page", portfolio_id=portfolio_id))


@bp.post("/portfolios/<int:portfolio_id>/convention/scan")
@login_required
def upload_scan(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_manage_convention(current_user, portfolio), hide=False)
    form = ScanForm()
    if form.validate_on_submit():
        try:
            signed_on = conventions.parse_day(form.signed_on.data, "signed_on")
            conventions.attach_scan(
                current_user,
                conventions.ensure_convention(portfolio),
                form.file.data.stream,
                form.file.data.filename,
                signed_on,
            )
        except FieldError as error:
            db.session.rollback()
            _field_error(form, error)
        except InvalidInput as error:
            db.session.rollback()
            form.file.errors = [error.message]
        else:
            db.session.commit()
            flash("Convention signée enregistrée avec son scan.", "success")
            return htmx.redirect(url_for("conventions.convention_page", portfolio_id=portfolio_id))
    return _page(_portfolio(portfolio_id), 422, scan=form)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Response:
    """A scan over the size limit: the message in the upload form, not an error page."""
    from app.errors import error_response

    size = attachments.human_size(int(_config("MAX_UPLOAD_BYTES")))
    message = f"Le fichier dépasse la taille maximale autorisée ({size})."
    portfolio_id = (request.view_args or {}).get("portfolio_id")
    if request.endpoint != "conventions.upload_scan" or not isinstance(portfolio_id, int):
        return error_response(413, message)
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_manage_convention(current_user, portfolio), hide=False)
    form = ScanForm(formdata=None, data={"signed_on": conventions.today().isoformat()})
    form.file.errors = [message]
    return _page(portfolio, 413, scan=form)


def _config(key: str) -> Any:
    from flask import current_app

    return current_app.config[key]


@bp.get("/portfolios/<int:portfolio_id>/convention/scan")
@login_required
def download_scan(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_manage_convention(current_user, portfolio))
    convention = _convention(portfolio)
    path = conventions.scan_path(convention) if convention else None
    if convention is None or path is None or not path.is_file():
        abort(404)
    response = send_file(
        path,
        mimetype=convention.scan_content_type or "application/octet-stream",
        as_attachment=True,
        download_name=convention.scan_original_name or "convention-signee",
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- convention documents -----------------------------------------------------------------------


@bp.get("/portfolios/<int:portfolio_id>/convention.docx")
@login_required
def convention_docx(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_view_convention(current_user, portfolio))
    docs = convention_doc.load_conventions(portfolio=portfolio)
    data = convention_doc.convention_docx(docs, school_identity())
    name = download_name("convention", portfolio.learner.full_name)
    return _send(data, convention_doc.DOCX_MIMETYPE, f"{name}.docx", inline=False)


@bp.get("/portfolios/<int:portfolio_id>/convention.pdf")
@login_required
def convention_pdf(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_view_convention(current_user, portfolio))
    docs = convention_doc.load_conventions(portfolio=portfolio)
    data = convention_doc.convention_pdf(docs, school_identity())
    name = download_name("convention", portfolio.learner.full_name)
    return _send(data, PDF_MIMETYPE, f"{name}.pdf", inline=True)


@bp.get("/periodes/<int:period_id>/conventions.docx")
@login_required
def period_conventions_docx(period_id: int) -> Response:
    period = _period(period_id)
    docs = convention_doc.load_conventions(period=period)
    data = convention_doc.convention_docx(docs, school_identity())
    name = download_name("conventions", period.name)
    return _send(data, convention_doc.DOCX_MIMETYPE, f"{name}.docx", inline=False)


@bp.get("/periodes/<int:period_id>/conventions.pdf")
@login_required
def period_conventions_pdf(period_id: int) -> Response:
    period = _period(period_id)
    docs = convention_doc.load_conventions(period=period)
    data = convention_doc.convention_pdf(docs, school_identity())
    name = download_name("conventions", period.name)
    return _send(data, PDF_MIMETYPE, f"{name}.pdf", inline=True)


# --- attestation --------------------------------------------------------------------------------


def _attendance_page(
    portfolio: Portfolio, form: AttendanceForm | None = None, status: int = 200
) -> Response:
    attestation = attestations.attestation_of(portfolio)
    if form is None:
        form = AttendanceForm(formdata=None)
        if attestation is not None:
            form.days_done.data = str(attestation.days_done)
            form.absence_days.data = str(attestation.absence_days)
            form.absence_dates.data = ", ".join(
                d.strftime("%d/%m/%Y") for d in attestation.absence_date_list
            )
            form.absence_reason.data = attestation.absence_reason
            form.signer_name.data = attestation.signer_name
        if not form.signer_name.data and access.is_tutor(current_user):
            title = getattr(current_user, "job_title", "") or ""
            form.signer_name.data = ", ".join(p for p in (current_user.full_name, title) if p)
    period = portfolio.period
    return htmx.render(
        "conventions/attestation.html",
        "conventions/_attestation.html",
        status=status,
        portfolio=portfolio,
        attestation=attestation,
        form=form,
        planned_days=attestations.planned_days(period),
        started=conventions.today() >= period.start_date,
        can_record=access.can_record_attendance(current_user, portfolio),
        weeks_and_days=attestations.weeks_and_days,
        back=_back(portfolio),
    )


@bp.route("/portfolios/<int:portfolio_id>/attestation", methods=["GET", "POST"])
@login_required
def attendance(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_view_attestation(current_user, portfolio))
    if request.method == "GET":
        return _attendance_page(portfolio)
    access.ensure(access.can_record_attendance(current_user, portfolio), hide=False)
    form = AttendanceForm()
    if form.validate_on_submit():
        data = attestations.AttendanceInput(
            days_done=form.days_done.data or "",
            absence_days=form.absence_days.data or "",
            absence_dates=form.absence_dates.data or "",
            absence_reason=form.absence_reason.data or "",
            sign=bool(form.sign.data),
            signer_name=form.signer_name.data or "",
        )
        try:
            attestation, _ = attestations.record_attendance(current_user, portfolio, data)
        except FieldError as error:
            db.session.rollback()
            _field_error(form, error)
        except InvalidInput as error:
            db.session.rollback()
            form.days_done.errors = [error.message]
        else:
            db.session.commit()
            signed = " et signée" if attestation.is_signed else ""
            flash(f"Attestation enregistrée{signed}.", "success")
            return htmx.redirect(url_for("conventions.attendance", portfolio_id=portfolio_id))
    return _attendance_page(_portfolio(portfolio_id), form, 422)


@bp.get("/portfolios/<int:portfolio_id>/attestation.pdf")
@login_required
def attestation_pdf(portfolio_id: int) -> Response:
    portfolio = _portfolio(portfolio_id)
    access.ensure(access.can_view_attestation(current_user, portfolio))
    docs = attestation_doc.load_attestations(portfolio=portfolio)
    data = attestation_doc.attestation_pdf(docs, school_identity())
    name = download_name("attestation-pfmp", portfolio.learner.full_name)
    return _send(data, PDF_MIMETYPE, f"{name}.pdf", inline=True)


@bp.get("/periodes/<int:period_id>/attestations.pdf")
@login_required
def period_attestations_pdf(period_id: int) -> Response:
    period = _period(period_id)
    docs = attestation_doc.load_attestations(period=period)
    data = attestation_doc.attestation_pdf(docs, school_identity())
    name = download_name("attestations-pfmp", period.name)
    return _send(data, PDF_MIMETYPE, f"{name}.pdf", inline=True)


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    """`convention_today()` for the period view's summary (before / after the start)."""
    return {"convention_today": conventions.today}
