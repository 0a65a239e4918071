"""The OpenAPI 3.1 description of the sync API, served at /api/openapi.json. Written as data
next to the routes it describes; tests check real answers against these schemas."""

from __future__ import annotations

from typing import Any

from app.services.sync import MAX_CHANGES, SHEET_FIELDS

UUID = {"type": "string", "format": "uuid", "example": "1b4e28ba-2fa1-4d2e-9c1a-3f0e5a4b7c21"}
DATETIME = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with its UTC offset, e.g. 2026-06-10T14:03:05.120+02:00.",
}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "description": "Machine-readable code: unauthenticated (401), csrf_failed (400), "
            "bad_request (400), too_many_changes (413), http_415, http_500…",
        },
        "message": {"type": "string", "description": "French, for the user."},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


SCHEMAS: dict[str, Any] = {
    "Error": ERROR,
    "Csrf": {
        "type": "object",
        "required": ["csrf_token", "user_id"],
        "properties": {
            "csrf_token": {"type": "string", "description": "Send it as X-CSRFToken."},
            "user_id": {
                "type": "integer",
                "description": "The signed-in user: a device sends only the changes this "
                "user made (the outbox keeps each user's changes apart).",
            },
        },
    },
    "AssessmentItemChange": {
        "type": "object",
        "required": ["uuid", "type", "assessment_id", "item_key", "value", "device_time"],
        "properties": {
            "uuid": {**UUID, "description": "Generated on the device; unique forever."},
            "type": {"const": "assessment_item"},
            "assessment_id": {"type": "integer", "minimum": 1},
            "item_key": {
                "type": "string",
                "maxLength": 40,
                "description": '"criterion:<id>", "competency:<id>", "engagement", '
                '"meeting_date" or "comment".',
                "examples": ["criterion:812", "engagement"],
            },
            "value": {
                "type": ["string", "null"],
                "description": "A level code of the framework's scale for ratings (NE, 0…4 by "
                'default); "1"…"4" for the engagement stars; an ISO date for the meeting date; '
                "text (5000 characters at most) for the comment. null or an empty string "
                "clears the item.",
            },
            "device_time": {
                **DATETIME,
                "description": "When the change was made on the device (ISO 8601 with offset). "
                "It decides conflicts: the later change wins. A time later than the "
                "server's clock counts as the moment the server received it.",
            },
            "base_version": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "The item's version the device last saw (data-version on the "
                "page). When the item changed on the server since, SPEC F7 applies: the later "
                "device time wins, the other value stays in history and the item is flagged "
                "as a conflict for the teacher. Not part of the change's identity: a device "
                "may re-base a change it has not managed to send.",
            },
        },
    },
    "SheetChange": {
        "type": "object",
        "required": ["uuid", "type", "sheet_id", "fields", "device_time"],
        "properties": {
            "uuid": UUID,
            "type": {"const": "sheet"},
            "sheet_id": {"type": "integer", "minimum": 1},
            "fields": {
                "type": "object",
                "minProperties": 1,
                "description": "Whole-field values of the learner's activity sheet.",
                "properties": {
                    name: {"type": ["integer", "null"]}
                    if name == "activity_id"
                    else {"type": ["string", "null"]}
                    for name in SHEET_FIELDS
                },
                "additionalProperties": False,
            },
            "device_time": DATETIME,
            "base_updated_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "The sheet's last modification the device saw (null: never "
                "written). When the sheet changed since, the later device time wins and the "
                "losing text is kept in the audit log.",
            },
        },
    },
    "Change": {
        "oneOf": [_ref("AssessmentItemChange"), _ref("SheetChange")],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                "assessment_item": "#/components/schemas/AssessmentItemChange",
                "sheet": "#/components/schemas/SheetChange",
            },
        },
    },
    "SyncRequest": {
        "type": "object",
        "required": ["changes"],
        "properties": {
            "changes": {"type": "array", "maxItems": MAX_CHANGES, "items": _ref("Change")}
        },
    },
    "AssessmentItemReceipt": {
        "type": "object",
        "required": [
            "uuid",
            "type",
            "assessment_id",
            "item_key",
            "outcome",
            "version",
            "conflict",
            "server_time",
        ],
        "properties": {
            "uuid": UUID,
            "type": {"const": "assessment_item"},
            "assessment_id": {"type": "integer"},
            "item_key": {"type": "string"},
            "outcome": {
                "enum": ["applied", "conflict", "superseded", "rejected"],
                "description": "applied: the item has this value; conflict: applied over a "
                "value set meanwhile on another device, which waits as the item's conflict "
                "value; superseded: a later change from another device keeps the item, this "
                "value waits as its conflict value; rejected: the assessment is completed, "
                "the value is only kept in the item's history.",
            },
            "version": {
                "type": "integer",
                "description": "The item's version after this change: the new base for the "
                "device's next change to this item.",
            },
            "conflict": {"type": "boolean", "description": "The item is flagged."},
            "server_time": DATETIME,
            "message": {"type": "string"},
        },
    },
    "SheetReceipt": {
        "type": "object",
        "required": ["uuid", "type", "sheet_id", "outcome", "updated_at", "server_time"],
        "properties": {
            "uuid": UUID,
            "type": {"const": "sheet"},
            "sheet_id": {"type": "integer"},
            "outcome": {"enum": ["applied", "conflict", "superseded"]},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "server_time": DATETIME,
        },
    },
    "Receipt": {
        "oneOf": [_ref("AssessmentItemReceipt"), _ref("SheetReceipt")],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                "assessment_item": "#/components/schemas/AssessmentItemReceipt",
                "sheet": "#/components/schemas/SheetReceipt",
            },
        },
    },
    "ChangeError": {
        "type": "object",
        "required": ["index", "uuid", "status", "error", "message"],
        "properties": {
            "index": {"type": "integer", "description": "Position in `changes`."},
            "uuid": {"type": ["string", "null"]},
            "status": {"type": "integer", "enum": [403, 404, 409, 422]},
            "error": {
                "type": "string",
                "description": "invalid (422: a value the server refuses), uuid_reused (422: "
                "this UUID already came with another payload), not_found (404), forbidden "
                "(403), conflict/retry (409).",
            },
            "message": {"type": "string"},
        },
    },
    "SyncResponse": {
        "type": "object",
        "required": ["receipts", "errors"],
        "properties": {
            "receipts": {
                "type": "array",
                "items": _ref("Receipt"),
                "description": "One per change taken, in request order. A device removes a "
                "change from its outbox only when a receipt names its UUID.",
            },
            "errors": {"type": "array", "items": _ref("ChangeError")},
        },
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Passerelle — offline sync API",
        "version": "1.0.0",
        "description": (
            "Changes made on a device without network (assessment ratings, stars, meeting "
            "date, comment; a learner's activity sheet drafts) are queued on the device and "
            "sent here. Each change carries a UUID generated on the device: a replay returns "
            "the same receipt and changes nothing; the same UUID with another payload is "
            "refused (422). Changes to different items never conflict; see SPEC F7 for the "
            "per-item rule. The device deletes a change from its outbox only when a receipt "
            "names its UUID: never on a 401, a 5xx, a redirect or an answer that is not JSON.\n\n"
            "Authentication: the session cookie of the web application. A state-changing "
            "request carries the header X-CSRFToken with a token fetched from GET /api/csrf "
            "just before sending."
        ),
    },
    "servers": [{"url": "/"}],
    "paths": {
        "/api/csrf": {
            "get": {
                "operationId": "getCsrfToken",
                "summary": "A fresh CSRF token for the signed-in user",
                "security": [{"session": []}],
                "responses": {
                    "200": {
                        "description": "The token and the signed-in user's id.",
                        "content": {"application/json": {"schema": _ref("Csrf")}},
                    },
                    "401": _error_response("Not signed in, or the session expired."),
                },
            }
        },
        "/api/sync": {
            "post": {
                "operationId": "sync",
                "summary": "Send a batch of changes made on a device",
                "security": [{"session": [], "csrf": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("SyncRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "One receipt per change taken and one error per change "
                        "refused; a refused change never prevents the others.",
                        "content": {"application/json": {"schema": _ref("SyncResponse")}},
                    },
                    "400": _error_response(
                        "Malformed body (bad_request) or CSRF token missing, expired or "
                        "wrong (csrf_failed): fetch a new one from /api/csrf and retry."
                    ),
                    "401": _error_response(
                        "Not signed in, or the session expired (unauthenticated): keep the "
                        "outbox, ask the user to sign in again, then resend."
                    ),
                    "413": _error_response(f"More than {MAX_CHANGES} changes in one batch."),
                    "415": _error_response("The body is not JSON."),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "The OpenAPI 3.1 description."}},
            }
        },
    },
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "passerelle_session"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
        },
    },
}


def spec() -> dict[str, Any]:
    return SPEC
