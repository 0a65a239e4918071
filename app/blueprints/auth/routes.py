"""Sign in, sign out, change password, and each role's home page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app import access
from app.blueprints.auth.forms import LoginForm, PasswordChangeForm
from app.extensions import db
from app.services import auth as auth_service
from app.services import identity as identity_service

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.get("/")
def home() -> Response:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(role_home_url())


def role_home_url() -> str:
    if access.is_admin(current_user):
        return url_for("navigation.admin_home")
    if access.is_learner(current_user):
        return url_for("navigation.learner_home")
    if access.is_tutor(current_user):
        return url_for("navigation.tutor_home")
    return url_for("navigation.teacher_home")


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(role_home_url())
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = auth_service.authenticate(
            form.email.data or "",
            form.password.data or "",
            request.remote_addr or "unknown",
            max_failures=current_app.config["LOGIN_MAX_FAILURES"],
            window=current_app.config["LOGIN_WINDOW"],
        )
        db.session.commit()
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or role_home_url())
        form.password.errors.append("Adresse e-mail ou mot de passe incorrect.")
        status = 422
    elif form.is_submitted():
        status = 422
    return render_template(  # type: ignore[return-value]
        "auth/login.html", form=form, identity_providers=identity_service.enabled_providers()
    ), status


@bp.post("/deconnexion")
@login_required
def logout() -> Response:
    auth_service.end_all_sessions(current_user)
    db.session.commit()
    logout_user()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/compte/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password() -> Response | str:
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not auth_service.verify_password(user, form.current.data or ""):
            form.current.errors.append("Mot de passe actuel incorrect.")
            status = 422
        else:
            auth_service.set_password(user, form.new.data or "")
            db.session.commit()
            login_user(user)  # re-issue this device's cookie with the new version
            flash("Mot de passe modifié. Vos autres sessions ont été fermées.", "success")
            return redirect(role_home_url())
    elif form.is_submitted():
        status = 422
    return render_template("auth/password.html", form=form), status  # type: ignore[return-value]


@bp.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok", 200, {"Content-Type": "text/plain"}
