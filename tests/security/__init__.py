"""The security suite: generic checks that run over EVERY route of the access matrix
(tests/access/*.py), so a route added by any area is covered the day its case is added.

Helpers shared by the modules of this package: the cases, the roles a case allows, a
fingerprint of the whole database (to prove a refused request changed nothing), and clients.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import tests.access as access_pkg
from app.extensions import db
from tests.access import LOGIN, ROLES, Case

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Statuses that mean "this role may not do this" in the matrix (or "sign in first").
DENIED = frozenset({401, 403, 404, 405})
# Responses whose body is never an HTML document: streams that never end, and files.
STREAM_ENDPOINT_PREFIXES = ("events.",)
FILE_SUFFIXES = (".pdf", ".docx", ".zip", ".odt", ".xlsx", ".csv")


def all_cases() -> list[Case]:
    """Every case of tests/access/*.py, as tests/test_access_matrix.py collects them."""
    cases: list[Case] = []
    for module in pkgutil.iter_modules(access_pkg.__path__):
        cases.extend(importlib.import_module(f"tests.access.{module.name}").CASES)
    return cases


def case_id(case: Case) -> str:
    return f"{case.method} {case.endpoint}{' ' + case.note if case.note else ''}"


def statuses(case: Case, role: str) -> set[int]:
    expected = case.expect[role]
    return set(expected) if isinstance(expected, set) else {expected}


def allowed_roles(case: Case) -> list[str]:
    """Roles the matrix lets through (a success, a redirect of the app, or a 422 form error:
    the user may act, only the data was wrong). Anonymous counts only when it is not merely
    sent to the sign-in page."""
    roles = []
    for role in ROLES:
        expected = statuses(case, role)
        if role == "anonymous" and expected <= {LOGIN, *DENIED}:
            continue
        if expected - DENIED:
            roles.append(role)
    return roles


def is_stream_or_file(case: Case, url: str) -> bool:
    return case.endpoint.startswith(STREAM_ENDPOINT_PREFIXES) or url.split("?")[0].endswith(
        FILE_SUFFIXES
    )


def client_for(
    app: Flask, login_as: Callable[[Any], FlaskClient], world: Any, role: str
) -> FlaskClient:
    return app.test_client() if role == "anonymous" else login_as(world.user(role))


def fresh_session() -> None:
    """Make the next test-client request start like a real one.

    The test client shares the test's app context, so its database session: objects loaded
    by one request (with the raiseload options of a list view) would leak into the next, and
    a route's `db.session.rollback()` would also undo the test's uncommitted world. Commit
    the world (the `db` fixture still rolls everything back after the test) and forget every
    loaded object. Compute URLs and form data from the world BEFORE calling this."""
    db.session.commit()
    db.session.expunge_all()


def request_kwargs(case: Case, world: Any) -> dict[str, Any]:
    if case.data is None:
        return {}
    return {"json" if case.json else "data": case.data(world)}


def db_fingerprint() -> dict[str, str]:
    """A digest of every row of every table, as the current transaction sees it."""
    digests: dict[str, str] = {}
    for table in db.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        rows = db.session.execute(select(table).order_by(*order)).all()
        digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


@contextmanager
def app_config(app: Flask, **values: Any) -> Iterator[None]:
    """Set config keys on the session-wide app for one test, and restore them after."""
    missing = object()
    saved = {key: app.config.get(key, missing) for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is missing:
                app.config.pop(key, None)
            else:
                app.config[key] = value


def resendable(data: Any) -> Callable[[], Any]:
    """Form data that can be sent more than once: the test client closes an uploaded file once
    it has sent it, so each call gives fresh file objects with the same content."""
    if not isinstance(data, dict):
        return lambda: data
    files = {
        key: (value[0].getvalue(), *value[1:])
        for key, value in data.items()
        if isinstance(value, tuple) and isinstance(value[0], io.BytesIO)
    }
    return lambda: data | {key: (io.BytesIO(raw), *rest) for key, (raw, *rest) in files.items()}
