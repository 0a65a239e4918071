"""Domain errors and the HTTP answers they become: a page, a fragment or JSON."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.htmx import is_fragment_request

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain refused the operation; `message` is shown to the user (French)."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class InvalidInput(DomainError):
    status = 422


class PeriodLocked(DomainError):
    status = 409


class AssessmentCompleted(DomainError):
    status = 409


MESSAGES = {
    400: "La requête n'a pas pu être comprise.",
    401: "Veuillez vous connecter.",
    403: "Vous n'avez pas accès à cette page.",
    404: "Cette page n'existe pas ou n'est pas accessible.",
    405: "Cette action n'est pas permise ici.",
    409: "Cette action n'est pas possible dans l'état actuel.",
    413: "Le fichier envoyé est trop volumineux.",
    422: "Certaines informations ne sont pas valides.",
    429: "Trop de tentatives. Réessayez dans quelques minutes.",
    500: (
        "Une erreur inattendue est survenue. Réessayez ; "
        "si elle persiste, prévenez l'administrateur."
    ),
    503: "Le service est momentanément indisponible. Réessayez dans quelques secondes.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, message: str | None = None, code: str | None = None) -> Response:
    message = message or MESSAGES.get(status, MESSAGES[500])
    if wants_json():
        response = jsonify(error=code or f"http_{status}", message=message)
        response.status_code = status
        return response
    template = "errors/_error.html" if is_fragment_request() else "errors/page.html"
    response = make_response(render_template(template, status=status, message=message), status)
    if is_fragment_request():
        # Show the message in the page's alert area rather than in the swapped target.
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        return error_response(error.status, error.message, type(error).__name__)

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> Response:
        return error_response(
            400,
            "Votre session de formulaire a expiré ou le jeton de sécurité manque. "
            "Rechargez la page et recommencez.",
            "csrf_failed",
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        message = MESSAGES.get(status) if status in MESSAGES else error.description
        response = error_response(status, message)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Response:
        # The database is out of reach for a moment (restarting, failing over): nothing was
        # committed, so say so with a 503 the offline outbox retries, not a 500.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, error)
        from app.extensions import db

        try:
            db.session.rollback()
            response = error_response(503, code="unavailable")
        except Exception:  # the error page itself needs the database (the signed-in user)
            db.session.remove()
            response = Response(MESSAGES[503], 503, mimetype="text/plain")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("Unhandled error on %s %s", request.method, request.path)
        if app.config.get("PROPAGATE_EXCEPTIONS"):
            raise error
        return error_response(500)
