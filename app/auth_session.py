"""Loading the signed-in user: session version (end every session) and idle timeout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import logout_user, user_logged_in
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import bindparam, select
from sqlalchemy.orm.util import identity_key

from app import access
from app.extensions import db, login_manager
from app.models import Role, User
from app.models.school import teacher_levels

# The signed-in user and, for a teacher, the levels they teach (which nearly every teacher page
# checks access against): one statement, built once. One row per level (one with NULL for
# anyone else).
_USER_WITH_LEVELS = (
    select(User, teacher_levels.c.level_id)
    .outerjoin(teacher_levels, teacher_levels.c.teacher_id == User.id)
    .where(User.id == bindparam("user_id"))
)


def load_user(user_id: int) -> User | None:
    """The user of the session cookie, every request: with their levels when a teacher."""
    session_ = db.session()
    known = session_.identity_map.get(identity_key(User, user_id))
    if known is not None:  # already loaded in this session (tests share one across requests)
        return session_.get(User, user_id)
    rows = session_.execute(_USER_WITH_LEVELS, {"user_id": user_id}).all()
    if not rows:
        return None
    user: User = rows[0][0]
    if user.role == Role.TEACHER:
        access.remember_teacher_levels(
            user.id, frozenset(row[1] for row in rows if row[1] is not None)
        )
    return user


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its serializer built once per set of keys instead of
    twice per request (opening and saving the session)."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        try:
            return self._serializers[keys]
        except KeyError:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
            return serializer


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."
    login_manager.login_message_category = "info"
    # No Flask-Login session protection: its "basic" mode only marks sessions non-fresh, which
    # nothing here uses, and to do so it rewrote the cookie of every anonymous request carrying
    # a CSRF token. Such a response (the service worker fetching the offline page, say) could
    # land after the sign-in response and put the anonymous cookie back: the user was signed
    # out at once. Stolen cookies are bounded by session_version, idle and absolute timeouts.
    login_manager.session_protection = None

    @login_manager.user_loader
    def _load(user_key: str) -> User | None:
        user_id, _, version = user_key.partition(":")
        if not user_id.isdigit():
            return None
        user = load_user(int(user_id))
        if user is None or not user.is_active or str(user.session_version) != version:
            return None
        return user

    @login_manager.unauthorized_handler
    def _unauthorized() -> Response:
        if request.path.startswith("/api/") or request.path.startswith("/events/"):
            response = jsonify(
                error="unauthenticated", message="Session expirée : reconnectez-vous."
            )
            response.status_code = 401
            return response
        if request.headers.get("HX-Request") == "true":
            response = Response("", 401)
            response.headers["HX-Redirect"] = url_for("auth.login", next=request.full_path)
            return response
        return redirect(url_for("auth.login", next=request.full_path))  # type: ignore[return-value]

    @user_logged_in.connect_via(app)
    def _session_start(_sender: Flask, **_extra: object) -> None:
        # A permanent session gets a cookie with an expiry (PERMANENT_SESSION_LIFETIME) rather
        # than a browser-session cookie; `login_at` makes that lifetime an absolute limit,
        # which Flask alone does not enforce (it re-signs the cookie on every request).
        # `seen` restarts too: one left by an earlier session would sign the user out at once.
        session.permanent = True
        session["login_at"] = session["seen"] = datetime.now(UTC).timestamp()

    @app.before_request
    def _idle_timeout() -> None:
        if "_user_id" not in session:
            return
        now = datetime.now(UTC).timestamp()
        last = session.get("seen", now)
        limit = app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        started = session.setdefault("login_at", now)
        lifetime = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
        if now - float(last) > limit or now - float(started) > lifetime:
            logout_user()
            session.clear()
            return
        if not session.permanent:
            session.permanent = True
        # Write at most once a minute to keep cookies stable between rapid requests.
        if now - float(last) > 60 or "seen" not in session:
            session["seen"] = now
