"""The sync JSON API (SPEC F7): /api/csrf, /api/sync, /api/openapi.json — statuses, JSON
errors (expired session, CSRF, malformed bodies), answers that match the published OpenAPI
schemas, live events after the commit, and the same UUID posted from several threads at once
against a committed database (SQLite file, or PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text

from app import create_app
from app.extensions import db
from app.models import AssessmentItem, AssessmentItemChange, Criterion, SyncReceipt, User
from app.services import events
from tests import factories
from tests.conftest import _test_config, preload_frameworks, reset_schema
from tests.security import app_config, fresh_session

NOW = datetime.now(UTC).replace(microsecond=0)


def _uuid() -> str:
    return str(uuid.uuid4())


def _criterion_keys(framework_id: int, n: int = 3) -> list[str]:
    ids = db.session.scalars(
        select(Criterion.id)
        .where(Criterion.framework_id == framework_id)
        .order_by(Criterion.id)
        .limit(n)
    ).all()
    return [f"criterion:{i}" for i in ids]


def change(assessment_id: int, key: str, value: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "uuid": kw.pop("uuid", _uuid()),
        "type": "assessment_item",
        "assessment_id": assessment_id,
        "item_key": key,
        "value": value,
        "device_time": kw.pop("at", NOW - timedelta(minutes=5)).isoformat(),
        "base_version": kw.pop("base_version", 0),
        **kw,
    }


def post(client: FlaskClient, changes: list[Any], **kw: Any) -> Any:
    return client.post("/api/sync", json={"changes": changes}, **kw)


# --- a tiny validator for the OpenAPI schemas used here ---------------------------------------


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def conforms(document: dict[str, Any], schema: dict[str, Any], value: Any, path: str = "$") -> None:
    schema = _resolve(document, schema)
    if "oneOf" in schema:
        tag = schema["discriminator"]["propertyName"]
        target = schema["discriminator"]["mapping"][value[tag]]
        conforms(document, {"$ref": target}, value, path)
        return
    if "const" in schema:
        assert value == schema["const"], f"{path}: {value!r} != {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        assert any(TYPES[k](value) for k in kinds), f"{path}: {value!r} is not {kinds}"
    if isinstance(value, dict):
        missing = set(schema.get("required", [])) - set(value)
        assert not missing, f"{path}: missing {missing}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                conforms(document, sub, value[name], f"{path}.{name}")
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(schema.get("properties", {}))
            assert not extra, f"{path}: unexpected {extra}"
    if isinstance(value, list) and "items" in schema:
        for i, element in enumerate(value):
            conforms(document, schema["items"], element, f"{path}[{i}]")


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    answer = document["paths"][path][method]["responses"][str(status)]
    return answer["content"]["application/json"]["schema"]


# --- the document -----------------------------------------------------------------------------


def test_openapi_document_describes_the_sync_api(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert {"/api/sync", "/api/csrf"} <= set(document["paths"])
    sync = document["paths"]["/api/sync"]["post"]
    assert {"200", "400", "401", "413", "415"} <= set(sync["responses"])
    assert document["components"]["securitySchemes"]["csrf"]["name"] == "X-CSRFToken"

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" or (key == "mapping" and isinstance(value, dict)):
                    yield from ([value] if key == "$ref" else value.values())
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(document):
        assert _resolve(document, {"$ref": ref}), ref
    # The documented request example is itself valid.
    example = change(1, "criterion:12", "3")
    conforms(document, document["components"]["schemas"]["SyncRequest"], {"changes": [example]})


# --- /api/csrf --------------------------------------------------------------------------------


def test_csrf_endpoint_gives_a_fresh_token_and_the_user(f: Any, login_as: Any) -> None:
    teacher = f.teacher()
    response = login_as(teacher).get("/api/csrf")
    assert response.status_code == 200
    body = response.get_json()
    assert body["user_id"] == teacher.id and len(body["csrf_token"]) > 20
    assert response.headers["Cache-Control"] == "no-store"


def test_csrf_endpoint_is_401_json_when_signed_out(client: FlaskClient) -> None:
    response = client.get("/api/csrf")
    assert response.status_code == 401 and response.is_json
    assert response.get_json()["error"] == "unauthenticated"


# --- /api/sync --------------------------------------------------------------------------------


def test_sync_answers_receipts_and_errors_as_documented(
    f: Any, login_as: Any, client: FlaskClient
) -> None:
    w = f.world()
    keys = _criterion_keys(w.level.framework_id)
    good = [change(w.assessment.id, key, "3") for key in keys]
    bad = change(w.assessment.id, keys[0], "9")
    sheet = {
        "uuid": _uuid(),
        "type": "sheet",
        "sheet_id": w.sheet.id,
        "fields": {"description": "x"},
        "device_time": NOW.isoformat(),
        "base_updated_at": None,
    }
    tutor = login_as(w.tutor)
    fresh_session()
    response = post(tutor, [*good, bad, sheet])

    assert response.status_code == 200 and response.is_json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert [r["uuid"] for r in body["receipts"]] == [c["uuid"] for c in good]
    assert [(e["index"], e["status"]) for e in body["errors"]] == [(3, 422), (4, 403)]
    document = client.get("/api/openapi.json").get_json()
    conforms(document, response_schema(document, "/api/sync", "post", 200), body)
    rows = db.session.scalar(
        select(func.count())
        .select_from(AssessmentItemChange)
        .where(AssessmentItemChange.change_uuid.in_([c["uuid"] for c in [*good, bad]]))
    )
    assert rows == 3

    replay = post(tutor, good)
    assert replay.get_json() == {"receipts": body["receipts"], "errors": []}


def test_sheet_receipt_matches_the_schema(f: Any, login_as: Any, client: FlaskClient) -> None:
    w = f.world()
    learner = login_as(w.learner)
    sheet_id = w.sheet.id
    sheet = {
        "uuid": _uuid(),
        "type": "sheet",
        "sheet_id": sheet_id,
        "fields": {"description": "Rédigé sans réseau.", "conditions": "autonomous"},
        "device_time": NOW.isoformat(),
        "base_updated_at": None,
    }
    fresh_session()
    body = post(learner, [sheet]).get_json()
    assert body["receipts"][0]["outcome"] == "applied"
    document = client.get("/api/openapi.json").get_json()
    conforms(document, response_schema(document, "/api/sync", "post", 200), body)
    page = learner.get(f"/fiches/{sheet_id}/fiche").get_data(as_text=True)
    assert "Rédigé sans réseau." in page


def test_sync_publishes_live_events_after_the_commit(f: Any, login_as: Any, app: Flask) -> None:
    w = f.world()
    key = _criterion_keys(w.level.framework_id, 1)[0]
    teacher = login_as(w.teacher)
    topic = f"assessment:{w.assessment.id}"
    payload = [change(w.assessment.id, key, "2")]
    fresh_session()
    subscription = events.broker().subscribe([topic])
    try:
        post(teacher, payload)
        event = subscription.get(timeout=1)
    finally:
        events.broker().unsubscribe(subscription)
    assert event is not None and (event.kind, event.data["item_key"]) == ("item_saved", key)


def test_signed_out_or_expired_session_is_401_json_and_nothing_is_applied(
    f: Any, login_as: Any, client: FlaskClient
) -> None:
    w = f.world()
    key = _criterion_keys(w.level.framework_id, 1)[0]
    payload = [change(w.assessment.id, key, "2")]
    teacher_id = w.teacher.id
    ended = login_as(w.teacher)

    anonymous = post(client, payload)
    assert anonymous.status_code == 401 and anonymous.is_json
    assert anonymous.get_json() == {
        "error": "unauthenticated",
        "message": "Session expirée : reconnectez-vous.",
    }
    assert "Location" not in anonymous.headers

    idle = login_as(w.tutor)
    with idle.session_transaction() as session:
        session["seen"] = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    fresh_session()
    expired = post(idle, payload)
    assert expired.status_code == 401 and expired.get_json()["error"] == "unauthenticated"

    user = db.session.get(User, teacher_id)
    assert user is not None
    user.session_version += 1  # "end all my sessions" elsewhere
    fresh_session()
    assert post(ended, payload).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(AssessmentItemChange)) == 0


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": "changes=1", "content_type": "application/x-www-form-urlencoded"}, 415, None),
        ({"data": "{not json", "content_type": "application/json"}, 400, "bad_request"),
        ({"json": [1, 2]}, 400, "bad_request"),
        ({"json": {"changes": {"a": 1}}}, 400, "bad_request"),
        ({"json": {"change": []}}, 400, "bad_request"),
        ({"json": {"changes": [{}] * 201}}, 413, "too_many_changes"),
    ],
)
def test_malformed_bodies_get_a_json_error(
    f: Any, login_as: Any, kwargs: dict[str, Any], status: int, code: str | None
) -> None:
    client = login_as(f.teacher())
    response = client.post("/api/sync", **kwargs)
    assert response.status_code == status and response.is_json
    body = response.get_json()
    assert body["message"] and (code is None or body["error"] == code)


def test_empty_batch_is_fine(f: Any, login_as: Any) -> None:
    response = post(login_as(f.teacher()), [])
    assert response.get_json() == {"receipts": [], "errors": []}


def test_csrf_failure_is_machine_readable_and_a_fresh_token_works(
    app: Flask, f: Any, login_as: Any
) -> None:
    w = f.world()
    key = _criterion_keys(w.level.framework_id, 1)[0]
    tutor = login_as(w.tutor)
    assessment_id = w.assessment.id
    fresh_session()
    with app_config(app, WTF_CSRF_ENABLED=True):
        refused = post(tutor, [change(assessment_id, key, "2")])
        assert refused.status_code == 400 and refused.is_json
        assert refused.get_json()["error"] == "csrf_failed"
        wrong = post(tutor, [change(assessment_id, key, "2")], headers={"X-CSRFToken": "x"})
        assert wrong.status_code == 400 and wrong.get_json()["error"] == "csrf_failed"
        assert db.session.scalar(select(func.count()).select_from(AssessmentItemChange)) == 0

        token = tutor.get("/api/csrf").get_json()["csrf_token"]
        accepted = post(tutor, [change(assessment_id, key, "2")], headers={"X-CSRFToken": token})
        assert accepted.status_code == 200 and accepted.get_json()["receipts"]


# --- the same UUID from several threads, on a committed database --------------------------------


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, dict[str, Any]]]:
    """An app on its own committed database holding a World (threads need real commits)."""
    tmp = tmp_path_factory.mktemp("sync-concurrency")
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        base, _, name = url.rpartition("/")
        url = f"{base}/{name}_sync"
        admin = create_engine(f"{base}/{name}", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            query = text("SELECT 1 FROM pg_database WHERE datname = :n")
            if not conn.scalar(query, {"n": f"{name}_sync"}):
                conn.execute(text(f'CREATE DATABASE "{name}_sync"'))
        admin.dispose()
    else:
        url = f"sqlite:///{tmp / 'sync.sqlite'}"
    app = create_app(**_test_config(tmp, SQLALCHEMY_DATABASE_URI=url))
    reset_schema(app)
    preload_frameworks(app)
    with app.app_context():
        w = factories.Factory(db.session).world()
        ids = {
            "assessment": w.assessment.id,
            "tutor": w.tutor.get_id(),
            "teacher": w.teacher.get_id(),
            "keys": _criterion_keys(w.level.framework_id, 3),
        }
        db.session.commit()
        db.session.remove()
    yield app, ids
    with app.app_context():
        db.engine.dispose()


def _signed_in(app: Flask, user_key: str) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_key
        session["_fresh"] = True
    return client


def _race(app: Flask, user_key: str, payload: list[Any], threads: int = 8) -> list[Any]:
    clients = [_signed_in(app, user_key) for _ in range(threads)]
    barrier = threading.Barrier(threads)
    answers: list[Any] = [None] * threads

    def run(i: int) -> None:
        barrier.wait()
        answers[i] = clients[i].post("/api/sync", json={"changes": payload})

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return answers


def _rows(app: Flask, model: Any, column: Any, values: list[str]) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(model).where(column.in_(values)))
        db.session.remove()
    return int(count or 0)


def test_same_uuid_posted_concurrently_lands_exactly_once(
    committed: tuple[Flask, dict[str, Any]],
) -> None:
    app, ids = committed
    first, second, _ = ids["keys"]
    payload = [change(ids["assessment"], first, "3"), change(ids["assessment"], second, "1")]
    answers = _race(app, ids["tutor"], payload)

    assert [a.status_code for a in answers] == [200] * len(answers), [
        a.get_data(as_text=True)[:300] for a in answers if a.status_code != 200
    ]
    bodies = [a.get_json() for a in answers]
    assert all(body["errors"] == [] for body in bodies), bodies
    assert all(body["receipts"] == bodies[0]["receipts"] for body in bodies)
    uuids = [c["uuid"] for c in payload]
    assert _rows(app, AssessmentItemChange, AssessmentItemChange.change_uuid, uuids) == 2
    assert _rows(app, SyncReceipt, SyncReceipt.change_uuid, uuids) == 2
    with app.app_context():
        versions = db.session.scalars(
            select(AssessmentItem.version).where(
                AssessmentItem.assessment_id == ids["assessment"],
                AssessmentItem.item_key.in_([first, second]),
            )
        ).all()
        db.session.remove()
    assert sorted(versions) == [1, 1]


def test_two_assessors_racing_on_one_item_keep_both_values(
    committed: tuple[Flask, dict[str, Any]],
) -> None:
    """Two devices, same item, both based on the version they saw: one value wins, the other
    stays in history and the item is flagged — whatever the order the server sees them in."""
    app, ids = committed
    key = ids["keys"][2]
    teacher_change = change(ids["assessment"], key, "4", at=NOW - timedelta(minutes=1))
    tutor_change = change(ids["assessment"], key, "0", at=NOW - timedelta(minutes=2))
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def run(name: str, user_key: str, payload: dict[str, Any]) -> None:
        client = _signed_in(app, user_key)
        barrier.wait()
        answers[name] = client.post("/api/sync", json={"changes": [payload]})

    workers = [
        threading.Thread(target=run, args=("teacher", ids["teacher"], teacher_change)),
        threading.Thread(target=run, args=("tutor", ids["tutor"], tutor_change)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert {a.status_code for a in answers.values()} == {200}
    with app.app_context():
        item = db.session.scalar(
            select(AssessmentItem).where(
                AssessmentItem.assessment_id == ids["assessment"], AssessmentItem.item_key == key
            )
        )
        assert item is not None
        # The later device time (the teacher's) is the value; the tutor's waits.
        assert (item.value, item.conflict, item.conflict_value) == ("4", True, "0")
        history = db.session.scalars(
            select(AssessmentItemChange.value).where(AssessmentItemChange.item_id == item.id)
        ).all()
        assert sorted(v or "" for v in history) == ["0", "4"]
        db.session.remove()


# --- the pages that use it ----------------------------------------------------------------------


def test_assessment_page_offers_offline_use_to_its_assessors_only(
    f: Any, login_as: Any, client: FlaskClient
) -> None:
    from app.services import assessments

    w = f.world()
    url = f"/portfolios/{w.portfolio.id}/bilan"
    for user in (w.teacher, w.tutor):
        page = login_as(user).get(url).get_data(as_text=True)
        assert f'data-keep-offline="{url}"' in page and "data-outbox-home" in page
        assert f'<meta name="passerelle-user" content="{user.id}">' in page
        assert re.search(r'<script src="/static/js/offline\.js\?v=[^"]+" defer>', page)
    assessments.complete(w.assessment, w.teacher)
    page = login_as(w.learner).get(url).get_data(as_text=True)
    assert "data-keep-offline" not in page and "data-outbox-home" not in page
    assert "passerelle-user" not in client.get("/connexion").get_data(as_text=True)


def test_tutor_list_offers_to_keep_each_assessment_offline(f: Any, login_as: Any) -> None:
    w = f.world()
    page = login_as(w.tutor).get("/mes-apprenants").get_data(as_text=True)
    assert f'data-keep-offline="/portfolios/{w.portfolio.id}/bilan"' in page
    assert "Disponible hors connexion" in page and w.learner.full_name in page


def test_service_worker_sends_the_outbox_and_keeps_offline_pages(client: FlaskClient) -> None:
    body = client.get("/service-worker.js").get_data(as_text=True)
    settings = json.loads(re.match(r"self\.PASSERELLE = (\{.*?\});\n", body).group(1))  # type: ignore[union-attr]
    outbox = [url for url in settings["precache"] if url.startswith("/static/js/outbox.js?v=")]
    assert outbox and client.get(outbox[0]).status_code == 200
    assert "importScripts(" in body and 'addEventListener("sync"' in body
    rules = re.search(r"const PAGE_CACHE_RULES = \[(.*?)\];", body, re.S)
    assert rules is not None
    patterns = [
        re.compile(p.replace("\\/", "/")) for p in re.findall(r"/\^(.*?\$)/", rules.group(1))
    ]
    kept = lambda path: any(p.match(path) for p in patterns)  # noqa: E731
    assert kept("/portfolios/12/bilan") and kept("/fiches/3") and kept("/fiches/3/fiche")
    assert not kept("/portfolios/12/bilan/items/engagement") and not kept("/connexion")
