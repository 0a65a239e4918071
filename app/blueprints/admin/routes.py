"""Administration (SPEC "Admin", F11): school settings, accounts, levels and classes, CSV
imports, learners' data export and erasure (GDPR), the audit log; and, for the teachers of a
level, the history of an assessment.

Every page is a full page (no shell: the admin has no level menu); forms are plain POSTs that
answer 422 with the form and what was typed when something is wrong."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app import access
from app.blueprints.admin.forms import (
    AccountCreateForm,
    AccountEditForm,
    ClassForm,
    ConfirmForm,
    DeparturesForm,
    EraseForm,
    LearnerImportForm,
    LevelForm,
    SchoolForm,
    SiecleImportForm,
    StsImportForm,
    TeacherImportForm,
)
from app.errors import DomainError
from app.extensions import db, start_writing
from app.models import Assessment, ClassGroup, Learner, Level, Portfolio, Teacher, Tutor, User
from app.services import accounts, gdpr, imports, imports_siecle, imports_sts, mail, school
from app.services import audit as audit_service
from app.services.imports_xml import MAX_XML_BYTES
from app.services.periods import FieldError

bp = Blueprint("admin", __name__)

F = TypeVar("F", bound=Callable[..., Any])


def admin_required(view: F) -> F:
    """Signed in, and an admin (403: the admin area's existence is no secret)."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        access.ensure(access.can_administer(current_user), hide=False)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


# French labels of the audit log's codes; an unknown code (a new area) shows as is.
ACTION_LABELS = {
    "account.created": "Compte créé",
    "account.updated": "Compte modifié",
    "account.deactivated": "Compte désactivé",
    "account.reactivated": "Compte réactivé",
    "account.imported": "Compte créé par import",
    "account.updated_by_import": "Compte mis à jour par import",
    "import.learners": "Import d'apprenants",
    "import.teachers": "Import d'enseignants",
    "import.siecle": "Import SIECLE (élèves)",
    "import.sts": "Import STS-web (enseignants)",
    "import.departures": "Élèves partis désactivés",
    "learner.exported": "Données exportées (RGPD)",
    "learner.anonymised": "Apprenant anonymisé (RGPD)",
    "learner.deleted": "Apprenant supprimé (RGPD)",
    "school.updated": "Établissement modifié",
    "level.created": "Niveau créé",
    "level.updated": "Niveau modifié",
    "class.created": "Classe créée",
    "class.updated": "Classe modifiée",
    "invitation.issued": "Lien d'invitation envoyé",
    "invitation.accepted": "Invitation acceptée",
    "identity_provider.created": "Fournisseur d'identité (ENT) ajouté",
    "identity_provider.updated": "Fournisseur d'identité (ENT) modifié",
    "identity.linked": "Compte relié à l'ENT",
    "tutor.created": "Tuteur créé",
    "portfolio.tutor_assigned": "Tuteur affecté",
    "period.created": "Période créée",
    "period.updated": "Période modifiée",
    "period.deleted": "Période supprimée",
    "sheet.created": "Fiche créée",
    "sheet.attached": "Fiche rattachée à une période",
    "sheet.deleted": "Fiche supprimée",
    "assessment.completed": "Bilan finalisé",
    "assessment.reopened": "Bilan rouvert",
    "assessment.created": "Bilan créé",
}
OBJECT_LABELS = {
    "user": "Compte",
    "assessment": "Bilan",
    "period": "Période",
    "portfolio": "Portfolio",
    "activity_sheet": "Fiche activité",
    "liaison_sheet": "Fiche de liaison",
    "school": "Établissement",
    "level": "Niveau",
    "class": "Classe",
    "import": "Import",
    "identity_provider": "Fournisseur d'identité",
    "annex": "Annexe pédagogique",
    "interim_review": "Bilan intermédiaire",
}
ITEM_KIND_LABELS = {
    "criterion": "Critère",
    "competency": "Compétence",
    "engagement": "Engagement (étoiles)",
    "meeting_date": "Date de la rencontre",
    "comment": "Commentaire",
}
OUTCOME_LABELS = {
    "applied": "enregistrée",
    "superseded": "remplacée par une saisie plus récente",
    "conflict": "en conflit",
    "restored": "rétablie",
    "rejected": "refusée",
}


@bp.app_template_filter("audit_action")
def _audit_action(code: str) -> str:
    return ACTION_LABELS.get(code, code)


@bp.app_template_filter("audit_object")
def _audit_object(code: str) -> str:
    return OBJECT_LABELS.get(code, code)


@bp.app_template_filter("item_kind")
def _item_kind(code: str) -> str:
    return ITEM_KIND_LABELS.get(code, code)


@bp.app_template_filter("change_outcome")
def _change_outcome(code: str) -> str:
    return OUTCOME_LABELS.get(code, code)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def _get_or_404(model: Any, object_id: int) -> Any:
    obj = db.session.get(model, object_id)
    access.ensure(obj is not None)
    return obj


def _field_error(form: Any, error: FieldError, fallback: str = "name") -> None:
    target = getattr(form, error.field, None) or getattr(form, fallback)
    target.errors = [*list(target.errors or []), error.message]


def _upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def _import_dir() -> Path:
    """Pending imports live next to the uploads (instance/ by default), never under static/."""
    configured = current_app.config.get("IMPORT_DIR")
    return Path(configured) if configured else _upload_dir().parent / "imports"


def _invitation_url(token: str) -> str:
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return f"{base.rstrip('/')}/invitation/{token}"


# --- school ------------------------------------------------------------------------------------


@bp.route("/administration/etablissement", methods=["GET", "POST"])
@admin_required
def school_settings() -> Response:
    current = school.get_school()
    form = SchoolForm(obj=current)
    status = 200
    if form.validate_on_submit():
        data = school.SchoolInput(
            name=form.name.data or "",
            uai=form.uai.data or "",
            address=form.address.data or "",
            postal_code=form.postal_code.data or "",
            city=form.city.data or "",
            phone=form.phone.data or "",
            email=form.email.data or "",
            head_name=form.head_name.data or "",
            logo=form.logo.data.read() if form.logo.data else None,
            stamp=form.stamp.data.read() if form.stamp.data else None,
            remove_logo=bool(form.remove_logo.data),
            remove_stamp=bool(form.remove_stamp.data),
        )
        try:
            result = school.update_settings(current_user, data, _upload_dir())
            db.session.commit()
        except FieldError as error:
            _field_error(form, error)
            status = 422
        else:
            school.remove_files(_upload_dir(), result.obsolete_files)
            flash("Paramètres de l'établissement enregistrés.", "success")
            return redirect(url_for("admin.school_settings"), 303)
    elif form.is_submitted():
        status = 422
    return _page("admin/school.html", status, form=form, school=current)


def _school_image(attr: str) -> Response:
    current = school.get_school()
    stored = getattr(current, attr) if current is not None else None
    path = school.image_path(_upload_dir(), stored)
    access.ensure(path is not None and stored is not None)
    assert path is not None and stored is not None
    response = send_file(path, mimetype=school.image_type(stored), max_age=300)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/administration/etablissement/logo")
@login_required
def school_logo() -> Response:
    """Any signed-in user: the logo appears on documents and pages of every role."""
    return _school_image("logo_file")


@bp.get("/administration/etablissement/tampon")
@admin_required
def school_stamp() -> Response:
    return _school_image("stamp_file")


# --- accounts ----------------------------------------------------------------------------------


@bp.get("/administration/comptes")
@admin_required
def accounts_list() -> Response:
    role = request.args.get("role", "")
    query = request.args.get("q", "")
    active = request.args.get("etat", "")
    page = request.args.get("page", 1, type=int)
    result = accounts.search_accounts(role=role, query=query, active=active, page=page)
    return _page(
        "admin/accounts.html",
        result=result,
        counts=accounts.role_counts(),
        role=role if role in accounts.ROLE_FILTERS else "",
        query=query,
        active=active,
        filters=accounts.ROLE_FILTERS,
    )


def _identity_input(form: Any) -> accounts.AccountInput:
    return accounts.AccountInput(
        first_name=form.first_name.data or "",
        last_name=form.last_name.data or "",
        email=form.email.data or "",
        phone=form.phone.data or "",
        level_ids=list(form.level_ids.data or []),
        company_name=form.company_name.data or "",
        job_title=form.job_title.data or "",
    )


def _link_sent(user: User, token: str | None, created: bool) -> Response:
    """After the commit: mail the link when SMTP is configured, and show it in any case
    (once; it is not stored anywhere readable)."""
    url = _invitation_url(token) if token else None
    mailed = False
    if url and user.email:
        mailed = mail.send(
            user.email,
            "Votre compte Passerelle",
            f"Bonjour {user.first_name},\n\nUn compte Passerelle vous attend. Choisissez votre "
            f"mot de passe en ouvrant ce lien (valable une seule fois) :\n{url}\n",
        )
    return _page("admin/link.html", user=user, url=url, mailed=mailed, created=created)


@bp.route("/administration/comptes/nouveau", methods=["GET", "POST"])
@admin_required
def account_new() -> Response:
    form = AccountCreateForm()
    if request.method == "GET" and request.args.get("type") in accounts.CREATABLE:
        form.kind.data = request.args["type"]
    form.level_ids.choices = accounts.levels_for_select()
    status = 200
    if form.validate_on_submit():
        try:
            user, token = accounts.create_account(
                current_user,
                form.kind.data or "",
                _identity_input(form),
                current_app.config["INVITATION_TTL"],
            )
            db.session.commit()
        except FieldError as error:
            _field_error(form, error, "last_name")
            status = 422
        else:
            return _link_sent(user, token, created=True)
    elif form.is_submitted():
        status = 422
    return _page("admin/account_new.html", status, form=form)


@bp.route("/administration/comptes/<int:user_id>", methods=["GET", "POST"])
@admin_required
def account_edit(user_id: int) -> Response:
    user: User = _get_or_404(User, user_id)
    form = AccountEditForm(obj=user)
    if request.method == "GET" and isinstance(user, Teacher):
        form.level_ids.data = [level.id for level in user.levels]
    form.level_ids.choices = accounts.levels_for_select()
    form.class_group_id.choices = [(None, "— Aucune —"), *accounts.classes_for_select()]
    status = 200
    if user.anonymised_at is None and form.validate_on_submit():
        data = _identity_input(form)
        data.class_group_id = form.class_group_id.data
        data.learner_status = form.learner_status.data
        data.birth_date = form.birth_date.data
        try:
            changed = accounts.update_account(current_user, user, data)
            db.session.commit()
        except FieldError as error:
            _field_error(form, error, "last_name")
            status = 422
        else:
            flash("Compte enregistré." if changed else "Aucune modification.", "success")
            return redirect(url_for("admin.account_edit", user_id=user.id), 303)
    elif form.is_submitted():
        status = 422
    return _page(
        "admin/account_edit.html",
        status,
        form=form,
        user=user,
        is_learner=isinstance(user, Learner),
        is_teacher=isinstance(user, Teacher),
        is_tutor=isinstance(user, Tutor),
        erasure=gdpr.preview_erasure(user) if isinstance(user, Learner) else None,
        confirm=ConfirmForm(),
    )


def _account_action(user_id: int, action: Callable[[User], str]) -> Response:
    user: User = _get_or_404(User, user_id)
    form = ConfirmForm()
    access.ensure(form.validate_on_submit(), hide=False)
    try:
        message = action(user)
        db.session.commit()
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash(message, "success")
    return redirect(url_for("admin.account_edit", user_id=user.id), 303)


@bp.post("/administration/comptes/<int:user_id>/desactiver")
@admin_required
def account_deactivate(user_id: int) -> Response:
    def run(user: User) -> str:
        accounts.set_active(current_user, user, False)
        return f"Compte de {user.full_name} désactivé : ses sessions sont fermées."

    return _account_action(user_id, run)


@bp.post("/administration/comptes/<int:user_id>/reactiver")
@admin_required
def account_reactivate(user_id: int) -> Response:
    def run(user: User) -> str:
        accounts.set_active(current_user, user, True)
        return f"Compte de {user.full_name} réactivé."

    return _account_action(user_id, run)


@bp.post("/administration/comptes/<int:user_id>/lien-mot-de-passe")
@admin_required
def account_password_link(user_id: int) -> Response:
    user: User = _get_or_404(User, user_id)
    access.ensure(ConfirmForm().validate_on_submit(), hide=False)
    try:
        token = accounts.send_password_link(
            current_user, user, current_app.config["INVITATION_TTL"]
        )
        db.session.commit()
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.account_edit", user_id=user.id), 303)
    return _link_sent(user, token, created=False)


# --- learners' data (GDPR) ---------------------------------------------------------------------


@bp.get("/administration/apprenants/<int:learner_id>/export.zip")
@admin_required
def learner_export(learner_id: int) -> Response:
    learner: Learner = _get_or_404(Learner, learner_id)
    access.ensure(access.can_manage_learner_data(current_user), hide=False)
    archive = gdpr.build_export(learner)
    name = gdpr.export_filename(learner)
    start_writing()
    gdpr.record_export(current_user, learner)
    db.session.commit()
    response = send_file(
        archive, mimetype="application/zip", as_attachment=True, download_name=name
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/administration/apprenants/<int:learner_id>/effacer", methods=["GET", "POST"])
@admin_required
def learner_erase(learner_id: int) -> Response:
    learner: Learner = _get_or_404(Learner, learner_id)
    access.ensure(access.can_manage_learner_data(current_user), hide=False)
    if learner.anonymised_at is not None:
        flash("Cet apprenant a déjà été anonymisé.", "info")
        return redirect(url_for("admin.account_edit", user_id=learner.id), 303)
    form = EraseForm()
    status = 200
    if form.validate_on_submit():
        name = learner.full_name
        result = gdpr.erase_learner(current_user, learner)
        db.session.commit()
        if result.mode == "deleted":
            flash(f"{name} et toutes ses données ont été supprimés.", "success")
            return redirect(url_for("admin.accounts_list", role="learner"), 303)
        flash(
            f"{name} a été anonymisé : ses bilans finalisés sont conservés sans son identité.",
            "success",
        )
        return redirect(url_for("admin.account_edit", user_id=result.learner_id), 303)
    if form.is_submitted():
        status = 422
    return _page(
        "admin/erase.html",
        status,
        form=form,
        learner=learner,
        preview=gdpr.preview_erasure(learner),
    )


# --- levels and classes ------------------------------------------------------------------------


def _level_form(form: LevelForm) -> LevelForm:
    form.framework_id.choices = [(None, "— Choisir —"), *school.frameworks_for_select()]
    return form


def _class_form(form: ClassForm) -> ClassForm:
    form.level_id.choices = [(None, "— Choisir —"), *accounts.levels_for_select()]
    return form


def _structure_page(
    status: int = 200, level_form: LevelForm | None = None, class_form: ClassForm | None = None
) -> Response:
    return _page(
        "admin/structure.html",
        status,
        lines=school.list_structure(),
        level_form=level_form or _level_form(LevelForm(formdata=None)),
        class_form=class_form or _class_form(ClassForm(formdata=None)),
    )


@bp.get("/administration/niveaux")
@admin_required
def structure() -> Response:
    return _structure_page()


@bp.post("/administration/niveaux")
@admin_required
def level_create() -> Response:
    form = _level_form(LevelForm())
    if form.validate_on_submit():
        try:
            level = school.create_level(
                current_user, form.name.data or "", form.framework_id.data, form.position.data or 0
            )
            db.session.commit()
        except FieldError as error:
            _field_error(form, error)
        else:
            flash(f"Niveau « {level.name} » créé.", "success")
            return redirect(url_for("admin.structure"), 303)
    return _structure_page(422, level_form=form)


@bp.route("/administration/niveaux/<int:level_id>", methods=["GET", "POST"])
@admin_required
def level_edit(level_id: int) -> Response:
    level: Level = _get_or_404(Level, level_id)
    form = _level_form(LevelForm(obj=level))
    status = 200
    if form.validate_on_submit():
        try:
            school.update_level(
                current_user, level, form.name.data or "", form.framework_id.data,
                form.position.data or 0,
            )  # fmt: skip
            db.session.commit()
        except FieldError as error:
            _field_error(form, error)
            status = 422
        else:
            flash("Niveau enregistré.", "success")
            return redirect(url_for("admin.structure"), 303)
    elif form.is_submitted():
        status = 422
    return _page("admin/level_edit.html", status, form=form, level=level)


@bp.post("/administration/classes")
@admin_required
def class_create() -> Response:
    form = _class_form(ClassForm())
    if form.validate_on_submit():
        try:
            group = school.create_class(current_user, form.name.data or "", form.level_id.data)
            db.session.commit()
        except FieldError as error:
            _field_error(form, error)
        else:
            flash(f"Classe « {group.name} » créée.", "success")
            return redirect(url_for("admin.structure"), 303)
    return _structure_page(422, class_form=form)


@bp.route("/administration/classes/<int:class_id>", methods=["GET", "POST"])
@admin_required
def class_edit(class_id: int) -> Response:
    group: ClassGroup = _get_or_404(ClassGroup, class_id)
    form = _class_form(ClassForm(obj=group))
    status = 200
    if form.validate_on_submit():
        try:
            school.update_class(current_user, group, form.name.data or "", form.level_id.data)
            db.session.commit()
        except FieldError as error:
            _field_error(form, error)
            status = 422
        else:
            flash("Classe enregistrée.", "success")
            return redirect(url_for("admin.structure"), 303)
    elif form.is_submitted():
        status = 422
    return _page("admin/class_edit.html", status, form=form, group=group)


# --- CSV imports -------------------------------------------------------------------------------


def _read_upload(form: Any) -> bytes:
    # Read one byte more than the limit so "too large" is told apart from "exactly the limit".
    data: bytes = form.file.data.read(imports.MAX_IMPORT_BYTES + 1)
    return data


@bp.route("/administration/import/apprenants", methods=["GET", "POST"])
@admin_required
def import_learners() -> Response:
    form = LearnerImportForm()
    form.level_id.choices = [
        (None, "— Classes existantes seulement —"),
        *accounts.levels_for_select(),
    ]
    status = 200
    if form.validate_on_submit():
        data = _read_upload(form)
        level = db.session.get(Level, form.level_id.data) if form.level_id.data else None
        try:
            parsed = imports.read_learners_csv(data)
        except imports.ImportFileError as error:
            form.file.errors = [error.message]
            status = 422
        else:
            plan = imports.plan_learners(parsed, level)
            token = imports.stash_upload(
                _import_dir(), data, kind="learners", user_id=current_user.id,
                level_id=level.id if level else None,
            )  # fmt: skip
            return _page("admin/import_preview.html", plan=plan, token=token, kind="learners")
    elif form.is_submitted():
        status = 422
    return _page("admin/import_learners.html", status, form=form)


@bp.post("/administration/import/apprenants/<token>")
@admin_required
def import_learners_confirm(token: str) -> Response:
    access.ensure(ConfirmForm().validate_on_submit(), hide=False)
    try:
        data, info = imports.load_upload(
            _import_dir(), token, kind="learners", user_id=current_user.id
        )
        level = db.session.get(Level, info["level_id"]) if info.get("level_id") else None
        parsed = imports.read_learners_csv(data)
    except imports.ImportFileError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.import_learners"), 303)
    plan = imports.apply_learners(parsed, level, current_user)
    db.session.commit()
    imports.drop_upload(_import_dir(), token)
    return _page("admin/import_report.html", plan=plan, kind="learners")


@bp.route("/administration/import/enseignants", methods=["GET", "POST"])
@admin_required
def import_teachers() -> Response:
    form = TeacherImportForm()
    status = 200
    if form.validate_on_submit():
        data = _read_upload(form)
        try:
            parsed = imports.read_teachers_csv(data)
        except imports.ImportFileError as error:
            form.file.errors = [error.message]
            status = 422
        else:
            plan = imports.plan_teachers(parsed)
            token = imports.stash_upload(
                _import_dir(), data, kind="teachers", user_id=current_user.id
            )
            return _page("admin/import_preview.html", plan=plan, token=token, kind="teachers")
    elif form.is_submitted():
        status = 422
    return _page("admin/import_teachers.html", status, form=form)


@bp.post("/administration/import/enseignants/<token>")
@admin_required
def import_teachers_confirm(token: str) -> Response:
    access.ensure(ConfirmForm().validate_on_submit(), hide=False)
    try:
        data, _info = imports.load_upload(
            _import_dir(), token, kind="teachers", user_id=current_user.id
        )
        parsed = imports.read_teachers_csv(data)
    except imports.ImportFileError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.import_teachers"), 303)
    plan = imports.apply_teachers(parsed, current_user)
    db.session.commit()
    imports.drop_upload(_import_dir(), token)
    return _page("admin/import_report.html", plan=plan, kind="teachers")


# --- SIECLE and STS-web XML imports ----------------------------------------------------------


def _read_xml_upload(form: Any) -> bytes:
    data: bytes = form.file.data.read(MAX_XML_BYTES + 1)
    return data


def _framework_choices() -> dict[str, int | None]:
    """The diploma the admin picked for each level to create ("framework-<level key>")."""
    chosen: dict[str, int | None] = {}
    for name, value in request.form.items():
        if name.startswith("framework-"):
            chosen[name.removeprefix("framework-")] = int(value) if value.isdigit() else None
    return chosen


@bp.route("/administration/import/siecle", methods=["GET", "POST"])
@admin_required
def import_siecle() -> Response:
    form = SiecleImportForm()
    status = 200
    if form.validate_on_submit():
        data = _read_xml_upload(form)
        try:
            parsed = imports_siecle.read_siecle(data)
        except imports.ImportFileError as error:
            form.file.errors = [error.message]
            status = 422
        else:
            plan = imports_siecle.plan_siecle(parsed)
            token = imports.stash_upload(
                _import_dir(), data, kind="siecle", user_id=current_user.id
            )
            return _page(
                "admin/import_siecle_preview.html",
                plan=plan, token=token, kind="siecle", form=DeparturesForm(),
            )  # fmt: skip
    elif form.is_submitted():
        status = 422
    return _page("admin/import_siecle.html", status, form=form)


@bp.post("/administration/import/siecle/<token>")
@admin_required
def import_siecle_confirm(token: str) -> Response:
    access.ensure(ConfirmForm().validate_on_submit(), hide=False)
    try:
        data, _info = imports.load_upload(
            _import_dir(), token, kind="siecle", user_id=current_user.id
        )
        parsed = imports_siecle.read_siecle(data)
    except imports.ImportFileError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.import_siecle"), 303)
    try:
        plan = imports_siecle.apply_siecle(parsed, _framework_choices(), current_user)
    except imports_siecle.LevelChoiceMissing as error:
        db.session.rollback()
        return _page(
            "admin/import_siecle_preview.html", 422,
            plan=error.plan, token=token, kind="siecle", error=error.message,
            form=DeparturesForm(),
        )  # fmt: skip
    db.session.commit()
    imports.drop_upload(_import_dir(), token)
    return _page("admin/import_siecle_report.html", plan=plan, kind="siecle", form=DeparturesForm())


@bp.post("/administration/import/departs")
@admin_required
def import_departures() -> Response:
    """Deactivate, in one confirmed action, the pupils a SIECLE import listed as gone."""
    form = DeparturesForm()
    ids = [int(v) for v in request.form.getlist("learner_ids") if v.isdigit()][:10000]
    learners = imports_siecle.departures_by_id(ids)
    if form.validate_on_submit() and learners:
        count = imports_siecle.deactivate_departed(current_user, learners)
        db.session.commit()
        flash(f"{count} compte{'s' if count > 1 else ''} d'élève{'s' if count > 1 else ''} "
              f"désactivé{'s' if count > 1 else ''}.", "success")  # fmt: skip
        return redirect(url_for("admin.accounts_list", role="learner", etat="inactive"), 303)
    departures = [imports_siecle.Departure(learner, "") for learner in learners]
    return _page(
        "admin/import_departures.html", 422, form=form, departures=departures, checked=set(ids)
    )


@bp.route("/administration/import/sts", methods=["GET", "POST"])
@admin_required
def import_sts() -> Response:
    form = StsImportForm()
    status = 200
    if form.validate_on_submit():
        data = _read_xml_upload(form)
        try:
            parsed = imports_sts.read_sts(data)
        except imports.ImportFileError as error:
            form.file.errors = [error.message]
            status = 422
        else:
            plan = imports_sts.plan_sts(parsed)
            token = imports.stash_upload(_import_dir(), data, kind="sts", user_id=current_user.id)
            return _page("admin/import_preview.html", plan=plan, token=token, kind="sts")
    elif form.is_submitted():
        status = 422
    return _page("admin/import_sts.html", status, form=form)


@bp.post("/administration/import/sts/<token>")
@admin_required
def import_sts_confirm(token: str) -> Response:
    access.ensure(ConfirmForm().validate_on_submit(), hide=False)
    try:
        data, _info = imports.load_upload(_import_dir(), token, kind="sts", user_id=current_user.id)
        parsed = imports_sts.read_sts(data)
    except imports.ImportFileError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.import_sts"), 303)
    plan = imports_sts.apply_sts(parsed, current_user)
    db.session.commit()
    imports.drop_upload(_import_dir(), token)
    return _page("admin/import_report.html", plan=plan, kind="sts")


# --- audit log ---------------------------------------------------------------------------------


@bp.get("/administration/journal")
@admin_required
def audit_log() -> Response:
    learner_id = request.args.get("apprenant", type=int)
    object_id = request.args.get("id", type=int)
    result = audit_service.search_entries(
        action=request.args.get("action", "")[:60],
        object_type=request.args.get("objet", "")[:40],
        object_id=object_id,
        learner_id=learner_id,
        page=request.args.get("page", 1, type=int),
    )
    learner = db.session.get(Learner, learner_id) if learner_id else None
    return _page(
        "admin/audit.html",
        result=result,
        action=request.args.get("action", ""),
        object_type=request.args.get("objet", ""),
        object_id=object_id,
        learner=learner,
        learner_id=learner_id,
    )


@bp.get("/bilans/<int:assessment_id>/journal")
@login_required
def assessment_log(assessment_id: int) -> Response:
    """Who changed what in one assessment: its teachers (and the admin) only."""
    assessment: Assessment = _get_or_404(Assessment, assessment_id)
    access.ensure(access.can_view_assessment_log(current_user, assessment))
    portfolio: Portfolio = assessment.portfolio
    return _page(
        "admin/assessment_log.html",
        assessment=assessment,
        portfolio=portfolio,
        entries=audit_service.audit_entries_for_assessment(assessment.id),
        changes=audit_service.item_changes_for_assessment(assessment.id),
    )
