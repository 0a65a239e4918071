"""The offline-sync JSON API (SPEC F7), separate from the HTML routes:

- `GET /api/csrf`: a fresh CSRF token (and who is signed in), fetched by the device right
  before it sends — never the token cached with a page, which may have expired.
- `POST /api/sync`: a batch of changes made on a device; one receipt per change taken,
  one error per change refused (see app/services/sync.py).
- `GET /api/openapi.json`: the OpenAPI 3.1 description of the above.

Every answer is JSON: an expired session is a 401 (never a redirect to the sign-in page), a
CSRF failure a 400 `{"error": "csrf_failed"}` (app/errors.py handles both under /api/)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from app.blueprints.sync.openapi import spec
from app.extensions import db
from app.services import events
from app.services import sync as service

bp = Blueprint("sync", __name__, url_prefix="/api")


def _json(status: int = 200, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _bad_request(message: str, code: str = "bad_request", status: int = 400) -> Response:
    return _json(status, error=code, message=message)


@bp.get("/csrf")
@login_required
def csrf_token() -> Response:
    return _json(csrf_token=generate_csrf(), user_id=current_user.id)


@bp.post("/sync")
@login_required
def sync() -> Response:
    if not request.is_json:
        return _bad_request("Envoyez du JSON (Content-Type: application/json).", status=415)
    payload = request.get_json(silent=True)
    changes = payload.get("changes") if isinstance(payload, dict) else None
    if not isinstance(changes, list):
        return _bad_request("Le corps doit être un objet JSON avec une liste « changes ».")
    if len(changes) > service.MAX_CHANGES:
        return _bad_request(
            f"Au plus {service.MAX_CHANGES} modifications par envoi.", "too_many_changes", 413
        )
    # The user itself, not the proxy: the batch reads it for each of its changes.
    result = service.apply_batch(current_user._get_current_object(), changes)
    db.session.commit()
    for topic, kind, data in result.events:
        events.publish(topic, kind, **data)
    return _json(receipts=result.receipts, errors=result.errors)


@bp.get("/openapi.json")
def openapi() -> Response:
    response = jsonify(spec())
    response.headers["Cache-Control"] = "no-cache"
    return response
