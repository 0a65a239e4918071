"""Sign-in through the school's identity provider (OIDC or CAS), and its admin pages."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from app import access
from app.blueprints.admin.routes import admin_required
from app.blueprints.auth.routes import _safe_next, role_home_url
from app.blueprints.identity.forms import ProviderForm
from app.errors import DomainError
from app.extensions import db
from app.models import IdentityProtocol, IdentityProvider
from app.services import auth as auth_service
from app.services import identity, identity_cas, identity_oidc
from app.services.periods import FieldError

bp = Blueprint("identity", __name__)

PENDING_KEY = "identity_pending"
NEXT_KEY = "identity_next"


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def _callback_url(provider: IdentityProvider) -> str:
    """The redirect URI / CAS service declared at the ENT: it must be the same at every step,
    so behind a reverse proxy it is built on PUBLIC_URL (the proxy may speak http to us)."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for("identity.callback", provider_id=provider.id)
    return url_for("identity.callback", provider_id=provider.id, _external=True)


def _to_login(error: DomainError) -> Response:
    flash(error.message, "error")
    return redirect(url_for("auth.login"), 303)


# --- sign-in -----------------------------------------------------------------------------------


@bp.get("/connexion/ent/<int:provider_id>")
def start(provider_id: int) -> Response:
    if current_user.is_authenticated:
        return redirect(role_home_url())
    try:
        provider = identity.get_enabled(provider_id)
    except DomainError as error:
        return _to_login(error)
    session[NEXT_KEY] = _safe_next(request.args.get("next"))
    if provider.protocol == IdentityProtocol.CAS:
        session[PENDING_KEY] = {"provider_id": provider.id}
        return redirect(identity_cas.login_url(provider, _callback_url(provider)))
    try:
        url, pending = identity_oidc.begin(provider, _callback_url(provider))
    except identity.ProviderUnavailable as error:
        return _to_login(error)
    session[PENDING_KEY] = pending.to_dict()
    return redirect(url)


def _verified_identity(provider: IdentityProvider, pending: dict[str, Any] | None) -> Any:
    if provider.protocol == IdentityProtocol.CAS:
        if not pending or pending.get("provider_id") != provider.id:
            raise identity.SignInRejected(
                "La connexion par l'ENT n'a pas abouti : la demande de connexion a expiré ou "
                "ne vient pas de ce navigateur. Recommencez depuis la page de connexion."
            )
        return identity_cas.validate(
            provider, _callback_url(provider), request.args.get("ticket", "")
        )
    try:
        state = identity_oidc.Pending(**pending) if pending else None
    except TypeError:
        state = None
    return identity_oidc.finish(provider, state, request.args.to_dict())


@bp.get("/connexion/ent/<int:provider_id>/retour")
def callback(provider_id: int) -> Response:
    pending = session.pop(PENDING_KEY, None)  # single use, whatever happens next
    next_url = session.pop(NEXT_KEY, None)
    ip = request.remote_addr or "unknown"
    config = current_app.config
    try:
        provider = identity.get_enabled(provider_id)
        if auth_service.is_throttled("", ip, config["LOGIN_MAX_FAILURES"], config["LOGIN_WINDOW"]):
            raise auth_service.LoginThrottled(
                "Trop de tentatives de connexion. Réessayez dans une quinzaine de minutes."
            )
        verified = _verified_identity(provider, pending)
        user = identity.resolve(provider, verified)
    except identity.ProviderUnavailable as error:
        return _to_login(error)
    except identity.SignInRejected as error:
        identity.record_failure(ip)
        db.session.commit()
        return _page("identity/refused.html", error.status, message=error.message, unknown=False)
    except DomainError as error:
        db.session.rollback()
        unknown = isinstance(error, identity.UnknownIdentity)
        return _page("identity/refused.html", error.status, message=error.message, unknown=unknown)
    identity.signed_in(user)
    db.session.commit()
    login_user(user)
    return redirect(_safe_next(next_url) or role_home_url())


# --- administration ----------------------------------------------------------------------------


def _input(form: ProviderForm) -> identity.ProviderInput:
    return identity.ProviderInput(
        protocol=form.protocol.data or "",
        label=form.label.data or "",
        server_url=form.server_url.data or "",
        client_id=form.client_id.data or "",
        client_secret=form.client_secret.data or "",
        cas_version=int(form.cas_version.data or 3),
        email_claim=form.email_claim.data or "",
        national_id_claim=form.national_id_claim.data or "",
        enabled=bool(form.enabled.data),
    )


def _field_error(form: ProviderForm, error: FieldError) -> None:
    target = getattr(form, error.field, None) or form.label
    target.errors = [*target.errors, error.message]


@bp.get("/administration/identite")
@admin_required
def providers() -> Response:
    rows = [(p, identity.link_count(p)) for p in identity.all_providers()]
    return _page("identity/providers.html", rows=rows, admin_tab="identity")


@bp.route("/administration/identite/nouveau", methods=["GET", "POST"])
@admin_required
def provider_new() -> Response:
    form = ProviderForm()
    status = 200
    if form.validate_on_submit():
        try:
            provider = identity.create_provider(current_user, _input(form))
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            _field_error(form, error)
            status = 422
        else:
            flash(f"Fournisseur d'identité « {provider.label} » enregistré.", "success")
            return redirect(url_for("identity.provider_edit", provider_id=provider.id), 303)
    elif form.is_submitted():
        status = 422
    return _page("identity/provider_form.html", status, form=form, provider=None)


@bp.route("/administration/identite/<int:provider_id>", methods=["GET", "POST"])
@admin_required
def provider_edit(provider_id: int) -> Response:
    provider = db.session.get(IdentityProvider, provider_id)
    access.ensure(provider is not None)
    assert provider is not None
    form = ProviderForm(obj=provider)
    if request.method == "GET":
        form.cas_version.data = str(provider.cas_version)
    form.client_secret.data = ""  # write-only: never sent back to the browser
    if request.method == "POST":
        form.client_secret.data = request.form.get("client_secret", "")
    status = 200
    if form.validate_on_submit():
        try:
            identity.update_provider(current_user, provider, _input(form))
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            _field_error(form, error)
            status = 422
        else:
            flash("Fournisseur d'identité enregistré.", "success")
            return redirect(url_for("identity.provider_edit", provider_id=provider.id), 303)
    elif form.is_submitted():
        status = 422
    return _page(
        "identity/provider_form.html",
        status,
        form=form,
        provider=provider,
        callback_url=_callback_url(provider),
        links=identity.link_count(provider),
    )
