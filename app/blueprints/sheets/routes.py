"""Activity sheets (SPEC F5): the four pages of a sheet, autosave, the framework grid,
annexes, complementary and free sheets.

Who: the learner (owner) writes; a teacher of the level reads and links to the framework
(opening a sheet marks it read for that teacher); the tutor of the portfolio reads; anyone
else gets 404."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    get_template_attribute,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from app import access, htmx, timefmt
from app.blueprints.sheets.forms import AttachForm, LinkForm, NewSheetForm, SheetForm, UploadForm
from app.errors import InvalidInput, NotFound
from app.extensions import db, start_writing
from app.models import ActivitySheet, Attachment
from app.models.base import utcnow
from app.services import attachments, events, framework_links, navigation
from app.services import sheets as service

bp = Blueprint("sheets", __name__)

TABS = ("contexte", "fiche", "referentiel", "annexes")


# --- helpers --------------------------------------------------------------------------------


def _sheet_or_404(sheet_id: int) -> ActivitySheet:
    sheet = service.load_sheet(sheet_id)
    access.ensure(sheet is not None and access.can_view_sheet(current_user, sheet))
    assert sheet is not None
    return sheet


def _publish(sheet: ActivitySheet, kind: str = "sheet_saved", period_id: int | None = None) -> None:
    """Tell the period view (and open assessments) after the commit."""
    if period_id is None and sheet.portfolio is not None:
        period_id = sheet.portfolio.period_id
    if period_id is not None:
        events.publish(
            f"period:{period_id}", kind, portfolio_id=sheet.portfolio_id, sheet_id=sheet.id
        )


def _back(sheet: ActivitySheet) -> tuple[str, str]:
    """Where "back" leads from a sheet, for each role."""
    if access.is_learner(current_user):
        return "/mes-portfolios", "Mes portfolios"
    if access.is_teacher(current_user):
        if sheet.portfolio is not None:
            return f"/periodes/{sheet.portfolio.period_id}", sheet.portfolio.period.name
        return f"/apprenants/{sheet.learner_id}", sheet.learner.full_name
    if sheet.portfolio is not None:
        return f"/portfolios/{sheet.portfolio_id}/fiches", "Fiches de l'apprenant"
    return "/", "Accueil"


def _page(sheet: ActivitySheet, tab: str, template: str, status: int = 200, **ctx: Any) -> Response:
    back_url, back_label = _back(sheet)
    html = render_template(
        template,
        sheet=sheet,
        tab=tab,
        can_write=access.can_write_sheet(current_user, sheet),
        can_link=access.can_link_sheet(current_user, sheet),
        can_delete=access.can_delete_sheet(current_user, sheet),
        neighbours=service.neighbours(sheet),
        back_url=back_url,
        back_label=back_label,
        conditions=service.CONDITIONS,
        **ctx,
    )
    if access.is_teacher(current_user) and status == 200:
        _mark_read_if_unread(sheet)
    return make_response(html, status)


def _mark_read_if_unread(sheet: ActivitySheet) -> None:
    """Once the page is rendered. A sheet the teacher has read since the learner last changed
    it is left alone: most views write nothing."""
    if not navigation.unread_for(current_user, [sheet]):
        return
    sheet_id, portfolio_id = sheet.id, sheet.portfolio_id
    period_id = sheet.portfolio.period_id if sheet.portfolio is not None else None
    start_writing()
    service.mark_read(sheet, current_user)
    db.session.commit()
    if period_id is not None:
        events.publish(
            f"period:{period_id}",
            "sheet_read",
            portfolio_id=portfolio_id,
            sheet_id=sheet_id,
            teacher_id=current_user.id,
        )


def _sheet_form(sheet: ActivitySheet, **kwargs: Any) -> SheetForm:
    activities = service.framework_activities(service.framework_id_of(sheet))
    return SheetForm(sheet, activities, **kwargs)


def _reader_form(sheet: ActivitySheet, writer: bool) -> SheetForm | None:
    """The form of a page opened (not posted); only the learner sees it, so readers
    (teachers, tutors) get none: no activity query, no form built."""
    return _sheet_form(sheet, formdata=None) if writer else None


def _context_page(
    sheet: ActivitySheet,
    form: SheetForm | None = None,
    status: int = 200,
    attach_form: AttachForm | None = None,
) -> Response:
    writer = access.can_write_sheet(current_user, sheet)
    form = form or _reader_form(sheet, writer)
    if attach_form is None and sheet.portfolio_id is None and writer:
        attach_form = AttachForm(service.learner_portfolios(sheet.learner_id), formdata=None)
    return _page(
        sheet, "contexte", "sheets/context.html", status, form=form, attach_form=attach_form
    )


def _narrative_page(
    sheet: ActivitySheet, form: SheetForm | None = None, status: int = 200
) -> Response:
    form = form or _reader_form(sheet, access.can_write_sheet(current_user, sheet))
    return _page(sheet, "fiche", "sheets/narrative.html", status, form=form)


# --- the four pages -------------------------------------------------------------------------


@bp.get("/fiches/<int:sheet_id>")
@login_required
def context(sheet_id: int) -> Response:
    return _context_page(_sheet_or_404(sheet_id))


@bp.get("/fiches/<int:sheet_id>/fiche")
@login_required
def narrative(sheet_id: int) -> Response:
    return _narrative_page(_sheet_or_404(sheet_id))


@bp.post("/fiches/<int:sheet_id>/enregistrer")
@login_required
def save(sheet_id: int) -> Response:
    """Autosave (htmx: a status fragment), plain submit (redirect), or JSON (offline drafts):
    any subset of the sheet's fields."""
    sheet = _sheet_or_404(sheet_id)
    access.ensure(access.can_write_sheet(current_user, sheet), hide=False)
    if request.is_json:
        return _save_json(sheet)
    form = _sheet_form(sheet)
    names = form.present(request.form)
    page = (
        request.form.get("page") if request.form.get("page") in ("contexte", "fiche") else "fiche"
    )
    if not form.validate_only(names):
        if htmx.is_fragment_request():
            return _status(sheet, errors=form.errors, status=422)
        if page == "contexte":
            return _context_page(sheet, form, 422)
        return _narrative_page(sheet, form, 422)
    changed = service.save_sheet(sheet, current_user, form.changes(names))
    db.session.commit()
    if changed:
        _publish(sheet)
    if htmx.is_fragment_request():
        return _status(sheet, changed=changed)
    flash("Fiche enregistrée.", "success")
    target = "sheets.context" if page == "contexte" else "sheets.narrative"
    return redirect(url_for(target, sheet_id=sheet.id), 303)


def _save_json(sheet: ActivitySheet) -> Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return _json_error("Le contenu envoyé n'est pas un objet JSON.", 400)
    try:
        changed = service.save_sheet(sheet, current_user, payload)
    except InvalidInput as error:
        return _json_error(error.message, 422)
    db.session.commit()
    if changed:
        _publish(sheet)
    updated = sheet.learner_updated_at
    return jsonify(
        ok=True,
        changed=changed,
        sheet_id=sheet.id,
        learner_updated_at=updated.isoformat() if updated else None,
    )


def _json_error(message: str, status: int) -> Response:
    response = jsonify(error="invalid", message=message)
    response.status_code = status
    return response


def _status(
    sheet: ActivitySheet,
    *,
    changed: bool = False,
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    saved_at = timefmt.local(sheet.learner_updated_at or utcnow()).strftime("%H:%M")
    messages = [str(m) for field_errors in (errors or {}).values() for m in field_errors]
    return make_response(
        render_template(
            "sheets/_save_status.html",
            sheet=sheet,
            saved_at=saved_at,
            changed=changed,
            messages=messages,
            initial=False,
        ),
        status,
    )


@bp.get("/fiches/<int:sheet_id>/referentiel")
@login_required
def links(sheet_id: int) -> Response:
    sheet = _sheet_or_404(sheet_id)
    grid = framework_links.load_grid(service.framework_id_of(sheet), sheet)
    unfolded = request.args.get("ouvrir", type=int)  # without JavaScript: one competency's criteria
    return _page(sheet, "referentiel", "sheets/links.html", grid=grid, open_competency_id=unfolded)


@bp.get("/fiches/<int:sheet_id>/referentiel/criteres/<int:task_id>/<int:competency_id>")
@login_required
def link_criteria(sheet_id: int, task_id: int, competency_id: int) -> Response:
    """The criteria boxes of one competency under one task, loaded when the teacher unfolds
    them (the grid sends only those already chosen: MEE has ~1,200 boxes)."""
    sheet = _sheet_or_404(sheet_id)
    access.ensure(access.can_link_sheet(current_user, sheet), hide=False)
    if not htmx.is_fragment_request():
        url = url_for("sheets.links", sheet_id=sheet.id, ouvrir=competency_id)
        return redirect(f"{url}#link-task-{task_id}", 303)
    try:
        competency, selection = framework_links.competency_criteria(
            service.framework_id_of(sheet), sheet, task_id, competency_id
        )
    except InvalidInput:
        raise NotFound("Ces critères n'existent pas dans le référentiel de la fiche.") from None
    boxes = get_template_attribute("sheets/_criteria.html", "criteria_boxes")
    return make_response(boxes(task_id, competency.criteria, selection))


@bp.post("/fiches/<int:sheet_id>/referentiel")
@login_required
def links_submit(sheet_id: int) -> Response:
    """The grid without JavaScript: the whole form, saved as submitted."""
    sheet = _sheet_or_404(sheet_id)
    access.ensure(
        access.can_write_sheet(current_user, sheet) or access.can_link_sheet(current_user, sheet),
        hide=False,
    )
    changed = framework_links.replace_selection(
        sheet,
        service.framework_id_of(sheet),
        current_user,
        ticks=request.form.getlist("tick"),
        tasks=request.form.getlist("task"),
        competencies=request.form.getlist("comp"),
        criteria=request.form.getlist("crit"),
    )
    db.session.commit()
    if changed:
        _publish(sheet, "sheet_saved" if sheet.learner_id == current_user.id else "sheet_linked")
    flash("Liens avec le référentiel enregistrés.", "success")
    return redirect(url_for("sheets.links", sheet_id=sheet.id), 303)


@bp.post("/fiches/<int:sheet_id>/referentiel/selection")
@login_required
def links_toggle(sheet_id: int) -> Response:
    """One checkbox of the grid (htmx): saves at once and returns that task's block."""
    sheet = _sheet_or_404(sheet_id)
    access.ensure(
        access.can_write_sheet(current_user, sheet) or access.can_link_sheet(current_user, sheet),
        hide=False,
    )
    item = request.form.get("item", "")
    kind, _, value = item.partition(":")
    if "checked" in request.form:
        checked = request.form.get("checked") in ("1", "true", "on")
    else:  # the checkbox itself: present in the form data only when ticked
        checked = kind == "confirm" or value in request.form.getlist(kind)
    view, changed = framework_links.toggle(
        sheet, service.framework_id_of(sheet), current_user, item, checked
    )
    db.session.commit()
    if changed:
        _publish(sheet, "sheet_saved" if kind == "tick" else "sheet_linked")
    if not htmx.is_fragment_request():
        return redirect(url_for("sheets.links", sheet_id=sheet.id), 303)
    return make_response(
        render_template(
            "sheets/_task.html",
            sheet=sheet,
            state=view.state,
            sel=view.selection,
            mode="tick" if kind == "tick" else "link",
            open_competency_id=view.open_competency_id,
        )
    )


@bp.get("/fiches/<int:sheet_id>/annexes")
@login_required
def attachments_page(sheet_id: int) -> Response:
    return _attachments_page(_sheet_or_404(sheet_id))


def _attachments_page(
    sheet: ActivitySheet,
    upload_form: UploadForm | None = None,
    link_form: LinkForm | None = None,
    status: int = 200,
) -> Response:
    return _page(
        sheet,
        "annexes",
        "sheets/attachments.html",
        status,
        upload_form=upload_form or UploadForm(formdata=None),
        link_form=link_form or LinkForm(formdata=None),
        human_size=attachments.human_size,
        type_labels=attachments.TYPE_LABELS,
        safe_href=attachments.safe_href,
        max_size=attachments.human_size(int(_config("MAX_UPLOAD_BYTES"))),
        accepted=attachments.ACCEPTED_TYPES_LABEL,
    )


def _config(key: str) -> Any:
    from flask import current_app

    return current_app.config[key]


@bp.post("/fiches/<int:sheet_id>/annexes")
@login_required
def upload(sheet_id: int) -> Response:
    sheet = _sheet_or_404(sheet_id)
    access.ensure(access.can_write_sheet(current_user, sheet), hide=False)
    form = UploadForm()
    if form.validate_on_submit():
        try:
            attachment = attachments.add_file(
                sheet, current_user, form.file.data.stream, form.file.data.filename
            )
        except InvalidInput as error:
            form.file.errors = [error.message]
        else:
            db.session.commit()
            _publish(sheet)
            flash(f"« {attachment.original_name} » a été joint à la fiche.", "success")
            return redirect(url_for("sheets.attachments_page", sheet_id=sheet.id), 303)
    return _attachments_page(sheet, upload_form=form, status=422)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Response:
    """Werkzeug refuses bodies over MAX_CONTENT_LENGTH before the view runs: show the
    message in the upload form rather than an error page."""
    from app.errors import error_response

    size = attachments.human_size(int(_config("MAX_UPLOAD_BYTES")))
    message = f"Le fichier dépasse la taille maximale autorisée ({size})."
    sheet_id = (request.view_args or {}).get("sheet_id")
    if request.endpoint != "sheets.upload" or not isinstance(sheet_id, int):
        return error_response(413, message)
    sheet = service.load_sheet(sheet_id)
    if sheet is None or not access.can_write_sheet(current_user, sheet):
        return error_response(404)
    form = UploadForm(formdata=None)
    form.file.errors = [message]
    return _attachments_page(sheet, upload_form=form, status=413)


@bp.post("/fiches/<int:sheet_id>/annexes/lien")
@login_required
def add_link(sheet_id: int) -> Response:
    sheet = _sheet_or_404(sheet_id)
    access.ensure(access.can_write_sheet(current_user, sheet), hide=False)
    form = LinkForm()
    if form.validate_on_submit():
        try:
            attachments.add_url(sheet, current_user, form.url.data, form.label.data)
        except InvalidInput as error:
            form.url.errors = [error.message]
        else:
            db.session.commit()
            _publish(sheet)
            flash("Lien ajouté à la fiche.", "success")
            return redirect(url_for("sheets.attachments_page", sheet_id=sheet.id), 303)
    return _attachments_page(sheet, link_form=form, status=422)


def _attachment_or_404(sheet: ActivitySheet, attachment_id: int) -> Attachment:
    attachment = next((a for a in sheet.attachments if a.id == attachment_id), None)
    access.ensure(attachment is not None)
    assert attachment is not None
    return attachment


@bp.get("/fiches/<int:sheet_id>/annexes/<int:attachment_id>")
@login_required
def download(sheet_id: int, attachment_id: int) -> Response:
    sheet = _sheet_or_404(sheet_id)
    attachment = _attachment_or_404(sheet, attachment_id)
    path = attachments.file_path(attachment)
    if path is None or not path.is_file():
        abort(404)
    response = send_file(
        path,
        mimetype=attachment.content_type or "application/octet-stream",
        as_attachment=True,
        download_name=attachment.original_name or "fichier",
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/fiches/<int:sheet_id>/annexes/<int:attachment_id>/supprimer")
@login_required
def delete_attachment(sheet_id: int, attachment_id: int) -> Response:
    sheet = _sheet_or_404(sheet_id)
    attachment = _attachment_or_404(sheet, attachment_id)
    access.ensure(access.can_write_sheet(current_user, sheet), hide=False)
    name = attachment.original_name or attachment.url
    attachments.delete_attachment(attachment, current_user)
    db.session.commit()
    _publish(sheet)
    flash(f"« {name} » a été retiré de la fiche.", "success")
    return redirect(url_for("sheets.attachments_page", sheet_id=sheet.id), 303)


# --- complementary and free sheets ----------------------------------------------------------


@bp.route("/portfolios/<int:portfolio_id>/fiches/nouvelle", methods=["GET", "POST"])
@login_required
def new_complementary(portfolio_id: int) -> Response:
    portfolio = service.load_portfolio(portfolio_id)
    access.ensure(portfolio is not None and access.can_view_portfolio(current_user, portfolio))
    assert portfolio is not None
    access.ensure(access.can_add_sheet(current_user, portfolio), hide=False)
    form = NewSheetForm()
    if form.validate_on_submit():
        sheet = service.create_complementary_sheet(portfolio, current_user, form.title.data)
        db.session.commit()
        _publish(sheet, "sheet_created", period_id=portfolio.period_id)
        flash("Fiche complémentaire créée.", "success")
        return redirect(url_for("sheets.context", sheet_id=sheet.id), 303)
    status = 422 if form.is_submitted() else 200
    return _new_page(form, status, portfolio=portfolio)


@bp.route("/fiches-libres/nouvelle", methods=["GET", "POST"])
@login_required
def new_free() -> Response:
    access.ensure(access.can_create_free_sheet(current_user), hide=False)
    form = NewSheetForm()
    if form.validate_on_submit():
        sheet = service.create_free_sheet(current_user, form.title.data)
        db.session.commit()
        flash("Fiche libre créée.", "success")
        return redirect(url_for("sheets.context", sheet_id=sheet.id), 303)
    status = 422 if form.is_submitted() else 200
    return _new_page(form, status, portfolio=None)


def _new_page(form: NewSheetForm, status: int, portfolio: Any) -> Response:
    html = render_template("sheets/new.html", form=form, portfolio=portfolio)
    return make_response(html, status)


@bp.post("/fiches/<int:sheet_id>/rattacher")
@login_required
def attach(sheet_id: int) -> Response:
    sheet = _sheet_or_404(sheet_id)
    access.ensure(
        access.can_write_sheet(current_user, sheet) and sheet.portfolio_id is None, hide=False
    )
    portfolios = service.learner_portfolios(sheet.learner_id)
    form = AttachForm(portfolios)
    if not form.validate_on_submit():
        return _context_page(sheet, status=422, attach_form=form)
    portfolio = next(p for p in portfolios if str(p.id) == form.portfolio_id.data)
    service.attach_to_portfolio(sheet, portfolio, current_user)
    db.session.commit()
    _publish(sheet, "sheet_created", period_id=portfolio.period_id)
    flash(f"La fiche est rattachée à la période « {portfolio.period.name} ».", "success")
    return redirect(url_for("sheets.context", sheet_id=sheet.id), 303)


@bp.route("/fiches/<int:sheet_id>/supprimer", methods=["GET", "POST"])
@login_required
def delete(sheet_id: int) -> Response:
    sheet = _sheet_or_404(sheet_id)
    access.ensure(access.can_delete_sheet(current_user, sheet), hide=False)
    if request.method == "GET":
        return make_response(render_template("sheets/delete.html", sheet=sheet))
    period_id = sheet.portfolio.period_id if sheet.portfolio is not None else None
    title, portfolio_id = sheet.title, sheet.portfolio_id
    service.delete_sheet(sheet, current_user)
    db.session.commit()
    if period_id is not None:
        events.publish(
            f"period:{period_id}", "sheet_deleted", portfolio_id=portfolio_id, sheet_id=sheet_id
        )
    flash(f"La fiche « {title} » a été supprimée, avec ses annexes.", "success")
    return redirect("/mes-portfolios", 303)


@bp.get("/portfolios/<int:portfolio_id>/fiches")
@login_required
def portfolio_sheets(portfolio_id: int) -> Response:
    """The sheets of one portfolio (the tutor's entry point; learners and teachers too)."""
    portfolio = service.load_portfolio(portfolio_id)
    access.ensure(portfolio is not None and access.can_view_portfolio(current_user, portfolio))
    assert portfolio is not None
    sheets = service.portfolio_sheets(portfolio.id)
    unread = navigation.unread_for(current_user, sheets)
    lines = [navigation.SheetLine(sheet, sheet.id in unread) for sheet in sheets]
    return make_response(
        render_template(
            "sheets/portfolio_sheets.html",
            portfolio=portfolio,
            lines=lines,
            can_add=access.can_add_sheet(current_user, portfolio),
        )
    )
