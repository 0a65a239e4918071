"""Fixtures: `app` (one per test session), `db` (a transaction rolled back after each test),
`client`, `login_as(user_or_role)`, and the factories of tests/factories.py.

The shipped frameworks are imported once per session and committed; everything a test writes
is rolled back, so tests do not see each other's data. Set TEST_DATABASE_URL to run on
PostgreSQL (CI does both)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from app import create_app
from app.extensions import db as _db
from app.models import User
from app.services import auth as _auth
from tests import factories

TEST_DB_URL = os.environ.get("TEST_DATABASE_URL")


def _cheap_password_hashing() -> None:
    """argon2 with its production cost (64 MiB, 3 passes, 4 lanes: 0.1 s quiet, 1 s on a loaded
    2-core machine) made each browser test's world (10 users with a password) cost seconds and
    every sign-in through the form a tenth of a second or more. In this test process only,
    hash with the smallest cost argon2 allows: the hashes are still argon2 ("$argon2id$…") and
    verified by the same code, which reads the cost from the hash; the production parameters
    (app/services/auth.py) are untouched, and servers started in subprocesses (gunicorn) keep
    them, so a cheap hash signed in there is re-hashed at the production cost, as in real life
    after a parameter change."""
    from argon2 import PasswordHasher

    _auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _auth._DUMMY_HASH = _auth._hasher.hash("passerelle-timing-guard")


_cheap_password_hashing()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "db_independent(reason): proves the same thing whatever TEST_DATABASE_URL says (its "
        "own SQLite file or PostgreSQL cluster, or no database at all): run on the SQLite pass "
        "only, skipped with its reason on the PostgreSQL pass",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not TEST_DB_URL:
        return
    for item in items:
        marker = item.get_closest_marker("db_independent")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(
                pytest.mark.skip(reason=f"db_independent, ran on the SQLite pass: {reason}")
            )


def _test_config(tmp: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": TEST_DB_URL or f"sqlite:///{tmp / 'test.sqlite'}",
        "WTF_CSRF_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "UPLOAD_DIR": str(tmp / "uploads"),
        "REDIS_URL": None,
        "SMTP_HOST": None,
    }
    config.update(overrides)
    return config


def reset_schema(app: Flask) -> None:
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:
            _db.drop_all()
        _db.create_all()


def preload_frameworks(app: Flask) -> None:
    from app.services.frameworks import import_framework_files, shipped_framework_paths

    with app.app_context():
        import_framework_files(shipped_framework_paths())
        _db.session.commit()


def isolate_requests(app: Flask) -> None:
    """Make each test-client request start like a real one.

    Requests reuse the test's app context, and so its `g` and its database session. Before
    each request: clear `g` (no cached current user), commit what the test set up (a SAVEPOINT
    release inside the test's transaction, so a route's rollback cannot wipe the test's world),
    and drop the loader options objects kept from a request, before and after it (a list
    view's raiseload("*") would otherwise leak into later lazy loads)."""
    from flask import g, request_started, request_tearing_down
    from sqlalchemy import inspect as sa_inspect

    def _fresh_request(sender: Flask, **_extra: Any) -> None:
        for key in list(g):
            g.pop(key, None)
        session = _db.session()
        if session.in_transaction():
            session.commit()
        _drop_loader_options()

    def _drop_loader_options(*_args: Any, **_extra: Any) -> None:
        if not _db.session.registry.has():  # e.g. a stream closed its session on purpose
            return
        for obj in list(_db.session().identity_map.values()):
            state = sa_inspect(obj)
            state.load_options = ()
            state.callables = {}  # per-instance lazy loaders, e.g. raiseload's

    request_started.connect(_fresh_request, app, weak=False)
    # After the request too: the test reads its objects again (lazy loads must work).
    request_tearing_down.connect(_drop_loader_options, app, weak=False)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp("passerelle")
    application = create_app(**_test_config(tmp))
    reset_schema(application)
    preload_frameworks(application)
    isolate_requests(application)
    yield application


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    """The database inside a transaction that is rolled back after the test; commits made by
    the code under test become SAVEPOINT releases."""
    with app.app_context():
        connection = _db.engine.connect()
        outer = connection.begin()
        engines = _db._app_engines[app]
        original = engines[None]
        engines[None] = connection  # type: ignore[assignment]
        _db.session.remove()
        _db.session.configure(join_transaction_mode="create_savepoint")
        try:
            yield _db
        finally:
            _db.session.remove()
            engines[None] = original
            if outer.is_active:
                outer.rollback()
            connection.close()


@pytest.fixture
def client(app: Flask, db: Any) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def login_as(app: Flask, db: Any) -> Callable[[User], FlaskClient]:
    """A fresh client signed in as the given user (no password round-trip)."""

    def _login(user: User) -> FlaskClient:
        _db.session.flush()
        test_client = app.test_client()
        with test_client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return test_client

    return _login


@pytest.fixture
def f(db: Any) -> factories.Factory:
    """Factories bound to the test's session: f.learner(), f.period(), …"""
    return factories.Factory(_db.session)


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(db: Any) -> Callable[[], Any]:
    """Context manager counting SQL statements: `with count_queries() as q: ...; q.count`."""
    from contextlib import contextmanager

    @contextmanager
    def _count() -> Iterator[QueryCounter]:
        counter = QueryCounter()
        engine = _db.engine.engine if hasattr(_db.engine, "engine") else _db.engine
        event.listen(engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(engine, "before_cursor_execute", counter)

    return _count
