"""Documents (SPEC F10): pre-agreements (DOCX), meeting grid, placement summary and level
synthesis (PDF), and the level synthesis page.

Each route loads, checks access, asks one service for the document and sends it; documents
hold personal data, so they are never cached."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_login import current_user, login_required

from app import access, htmx
from app.extensions import db, start_writing
from app.models import Learner, Level, Period, Portfolio
from app.services import assessments, navigation
from app.services.documents import (
    level_synthesis,
    meeting_grid,
    placement_summary,
    pre_agreement,
    school_identity,
)
from app.services.documents.pdf import render_pdf

bp = Blueprint("documents", __name__)

PDF_MIMETYPE = "application/pdf"


def _get_or_404(model: Any, object_id: int) -> Any:
    obj = db.session.get(model, object_id)
    access.ensure(obj is not None)
    return obj


def _send(body: Any, mimetype: str, filename: str, *, inline: bool) -> Response:
    response = Response(body, mimetype=mimetype)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/portfolios/<int:portfolio_id>/pre-convention.docx")
@login_required
def pre_agreement_docx(portfolio_id: int) -> Response:
    portfolio = _get_or_404(Portfolio, portfolio_id)
    access.ensure(access.can_print_pre_agreement(current_user, portfolio))
    pages = pre_agreement.load_pre_agreements(portfolio=portfolio)
    data = pre_agreement.pre_agreement_docx(pages, school_identity())
    name = pre_agreement.download_name("pre-convention", portfolio.learner.full_name)
    return _send(data, pre_agreement.DOCX_MIMETYPE, f"{name}.docx", inline=False)


@bp.get("/periodes/<int:period_id>/pre-conventions")
@login_required
def period_pre_agreements(period_id: int) -> Response:
    """One DOCX, a page per learner, streamed learner by learner (see pre_agreement.py)."""
    period = _get_or_404(Period, period_id)
    access.ensure(access.can_print_period_pre_agreements(current_user, period))
    pages = pre_agreement.load_pre_agreements(period=period)  # every query happens here
    chunks = pre_agreement.stream_pre_agreements(pages, school_identity())
    name = pre_agreement.download_name("pre-conventions", period.name)
    return _send(
        stream_with_context(chunks), pre_agreement.DOCX_MIMETYPE, f"{name}.docx", inline=False
    )


@bp.get("/portfolios/<int:portfolio_id>/preparer-la-rencontre.pdf")
@login_required
def meeting_grid_pdf(portfolio_id: int) -> Response:
    portfolio = _get_or_404(Portfolio, portfolio_id)
    access.ensure(access.can_print_meeting_grid(current_user, portfolio))
    assessment = portfolio.assessment
    if assessment is None:  # created on first use, as the online page does
        start_writing()
        assessment = assessments.get_or_create_assessment(portfolio)
        db.session.commit()
    base_url = current_app.config.get("PUBLIC_URL") or request.url_root
    data = meeting_grid.meeting_grid_pdf(assessment, base_url)
    name = pre_agreement.download_name("preparer-la-rencontre", portfolio.learner.full_name)
    return _send(data, PDF_MIMETYPE, f"{name}.pdf", inline=True)


@bp.get("/apprenants/<int:learner_id>/synthese.pdf")
@login_required
def placement_summary_pdf(learner_id: int) -> Response:
    learner = _get_or_404(Learner, learner_id)
    access.ensure(access.can_print_placement_summary(current_user, learner))
    data = placement_summary.placement_summary_pdf(learner)
    name = pre_agreement.download_name("synthese-des-pfmp", learner.full_name)
    return _send(data, PDF_MIMETYPE, f"{name}.pdf", inline=True)


@bp.get("/niveaux/<int:level_id>/synthese")
@login_required
def level_synthesis_page(level_id: int) -> Response:
    level = _get_or_404(Level, level_id)
    access.ensure(access.can_view_level_synthesis(current_user, level))
    menu = navigation.load_menu(current_user, level, "periods")
    synthesis = level_synthesis.load_level_synthesis(level)
    return htmx.render(
        "documents/level_synthesis.html",
        "navigation/_shell_body.html",
        menu=menu,
        work_template="documents/_level_synthesis.html",
        synthesis=synthesis,
    )


@bp.get("/niveaux/<int:level_id>/synthese.pdf")
@login_required
def level_synthesis_pdf(level_id: int) -> Response:
    level = _get_or_404(Level, level_id)
    access.ensure(access.can_view_level_synthesis(current_user, level))
    synthesis = level_synthesis.load_level_synthesis(level)
    school = school_identity()
    data = render_pdf(
        "documents/level_synthesis_pdf.html", logo=school.logo, school=school, synthesis=synthesis
    )
    name = pre_agreement.download_name("synthese", level.name)
    return _send(data, PDF_MIMETYPE, f"{name}.pdf", inline=True)
