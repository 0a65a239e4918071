"""Browser tests: a real server (werkzeug, threaded) on 127.0.0.1 with its own database, and
Playwright driving Debian's Chromium.

Fixtures:
- `live_server`: `.url` (e.g. "http://127.0.0.1:54321"), `.app` (the Flask app). One per test
  session; every test starts from a clean database (frameworks kept).
- `e2e_world`: a committed `World` (tests/factories.py) whose users all have the password
  `tests.factories.PASSWORD`; `e2e_world.session` is a SQLAlchemy session for extra setup
  (commit after changes) and checks.
- `login(page, user)`: signs in through the real form.
- `phone_page`: a page in a 360×740 context with touch, like a phone.
- `browser_type_launch_args`: points pytest-playwright at /usr/bin/chromium.

On PostgreSQL runs (TEST_DATABASE_URL), the server uses a sibling database "<name>_e2e", so
committed browser-test data never meets the rolled-back unit-test data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.extensions import db as _db
from tests import factories
from tests.conftest import _test_config, preload_frameworks, reset_schema

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEEP_TABLES = {
    "frameworks", "framework_blocks", "activities", "tasks", "competencies", "criteria",
    "task_competencies", "scale_levels",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def e2e_database_url(tmp: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp / 'e2e.sqlite'}"
    base, _, name = url.rpartition("/")
    e2e_name = f"{name}_e2e"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": e2e_name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{e2e_name}"'))
    admin.dispose()
    return f"{base}/{e2e_name}"


@dataclass
class LiveServer:
    url: str
    app: Flask
    server: BaseWSGIServer


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    tmp = tmp_path_factory.mktemp("e2e")
    config = _test_config(
        tmp,
        SQLALCHEMY_DATABASE_URI=e2e_database_url(tmp),
        WTF_CSRF_ENABLED=True,
        PROPAGATE_EXCEPTIONS=False,
        TESTING=False,
    )
    app = create_app(**config)
    reset_schema(app)
    preload_frameworks(app)
    return app


@pytest.fixture(scope="session")
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.server_port}", live_app, server)
    server.shutdown()


def clean_database(app: Flask) -> None:
    with app.app_context():
        with _db.engine.begin() as conn:
            for table in reversed(_db.metadata.sorted_tables):
                if table.name not in KEEP_TABLES:
                    conn.execute(table.delete())
        _db.session.remove()


class E2EWorld(factories.World):
    session: Session


@pytest.fixture
def e2e_world(live_server: LiveServer) -> Iterator[E2EWorld]:
    app = live_server.app
    clean_database(app)
    with app.app_context():
        session = _db.session
        # Requests left over from the previous test (background sync, streams) may still write:
        # take the write lock first instead of failing on a stale read snapshot.
        session.connection(execution_options={"sqlite_begin_immediate": True})
        original_person = factories.Factory._person

        def _person_with_password(self: factories.Factory, cls: type, **kw: Any) -> Any:
            kw.setdefault("password", factories.PASSWORD)
            return original_person(self, cls, **kw)

        factories.Factory._person = _person_with_password  # type: ignore[method-assign]
        try:
            world = E2EWorld(factories.Factory(session))
        finally:
            factories.Factory._person = original_person  # type: ignore[method-assign]
        session.commit()
        world.session = session
        yield world
        session.rollback()
        _db.session.remove()


@pytest.fixture
def login(live_server: LiveServer) -> Callable[[Any, Any], None]:
    def _login(page: Any, user: Any) -> None:
        page.goto(f"{live_server.url}/connexion")
        page.get_by_label("Adresse e-mail").fill(user.email)
        page.get_by_label("Mot de passe").fill(factories.PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(lambda url: "/connexion" not in url)

    return _login


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, has_touch=True, is_mobile=True, locale="fr-FR"
    )
    page = context.new_page()
    yield page
    context.close()
