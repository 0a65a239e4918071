"""My notifications (issue 16): which reminders each person gets, and the Web Push
subscription of this device (JSON endpoints, CSRF token in the X-CSRFToken header)."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, make_response, render_template, request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app import access, htmx
from app.errors import InvalidInput
from app.extensions import db
from app.services import push, reminders

bp = Blueprint("notifications", __name__)


@bp.get("/compte/notifications")
@login_required
def preferences() -> Response:
    access.ensure(access.can_manage_notifications(current_user), hide=False)
    html = render_template(
        "notifications/page.html",
        prefs=reminders.preferences(current_user),
        labels=reminders.KIND_LABELS,
        push_key=push.public_key() if push.is_configured() else "",
    )
    return make_response(html)


@bp.post("/compte/notifications")
@login_required
def save_preferences() -> Response:
    access.ensure(access.can_manage_notifications(current_user), hide=False)
    reminders.set_preferences(current_user, set(request.form.getlist("kinds")))
    db.session.commit()
    flash("Vos choix de notifications sont enregistrés.", "success")
    return htmx.redirect("/compte/notifications")


@bp.post("/api/push/abonnement")
@login_required
def subscribe() -> Response:
    access.ensure(access.can_manage_notifications(current_user), hide=False)
    try:
        push.subscribe(
            current_user, request.get_json(silent=True), request.headers.get("User-Agent", "")
        )
    except InvalidInput as error:
        db.session.rollback()
        response = jsonify(error="invalid_subscription", message=error.message)
        response.status_code = 422
        return response
    db.session.commit()
    return jsonify(ok=True, message="Notifications activées sur cet appareil.")


@bp.post("/api/push/desabonnement")
@login_required
def unsubscribe() -> Response:
    access.ensure(access.can_manage_notifications(current_user), hide=False)
    data = request.get_json(silent=True)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    removed = isinstance(endpoint, str) and push.unsubscribe(current_user, endpoint)
    db.session.commit()
    return jsonify(
        ok=True, removed=bool(removed), message="Notifications désactivées sur cet appareil."
    )
