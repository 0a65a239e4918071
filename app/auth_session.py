"""Loading the signed-in user: session version (end every session) and idle timeout."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, Response, jsonify, redirect, request, session, url_for
from flask_login import logout_user

from app.extensions import db, login_manager
from app.models import User


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(user_key: str) -> User | None:
        user_id, _, version = user_key.partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.is_active or str(user.session_version) != version:
            return None
        return user

    @login_manager.unauthorized_handler
    def _unauthorized() -> Response:
        if request.path.startswith("/api/") or request.path.startswith("/events/"):
            response = jsonify(error="unauthenticated", message="Session expirée : reconnectez-vous.")
            response.status_code = 401
            return response
        if request.headers.get("HX-Request") == "true":
            response = Response("", 401)
            response.headers["HX-Redirect"] = url_for("auth.login", next=request.full_path)
            return response
        return redirect(url_for("auth.login", next=request.full_path))  # type: ignore[return-value]

    @app.before_request
    def _idle_timeout() -> None:
        if "_user_id" not in session:
            return
        now = datetime.now(UTC).timestamp()
        last = session.get("seen", now)
        limit = app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        if now - float(last) > limit:
            logout_user()
            session.clear()
            return
        # Write at most once a minute to keep cookies stable between rapid requests.
        if now - float(last) > 60 or "seen" not in session:
            session["seen"] = now
