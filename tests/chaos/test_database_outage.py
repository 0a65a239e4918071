"""The database out of reach for a moment (a PostgreSQL restart, found by the fault suite):
the sync API and the pages answer 503 with Retry-After — which the offline outbox retries,
keeping every change — instead of a 500, and work again as soon as the database is back.
Runs against a PostgreSQL cluster of its own, stopped and started by the test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app
from app.extensions import db
from tests import factories
from tests.chaos.harness import Postgres, postgres_bin
from tests.conftest import _test_config, reset_schema


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory of its own, not pytest's tmp_path: concurrent pytest sessions of the same
    user prune each other's old tmp_path trees, under a running server."""
    path = Path(tempfile.mkdtemp(prefix="passerelle-chaos-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.db_independent(
        "a PostgreSQL cluster of its own, started and stopped by the test, on both passes"
    ),
    pytest.mark.skipif(postgres_bin() is None, reason="needs the PostgreSQL server binaries"),
]


def test_database_restart_answers_503_then_recovers(workdir: Path) -> None:
    postgres = Postgres(workdir / "pg")
    postgres.init()
    try:
        app = create_app(**_test_config(workdir, SQLALCHEMY_DATABASE_URI=postgres.url))
        reset_schema(app)
        with app.app_context():
            teacher = factories.Factory(db.session).teacher(password=factories.PASSWORD)
            email = teacher.email
            db.session.commit()
        client = app.test_client()
        signed_in = client.post("/connexion", data={"email": email, "password": factories.PASSWORD})
        assert signed_in.status_code in (302, 303)
        assert client.post("/api/sync", json={"changes": []}).status_code == 200

        postgres.stop()
        answer = client.post("/api/sync", json={"changes": []})
        assert answer.status_code == 503
        assert answer.get_json()["error"] == "unavailable"
        assert answer.headers["Retry-After"] == "5"
        page = client.get("/")
        assert page.status_code == 503
        assert "momentanément indisponible" in page.get_data(as_text=True)

        postgres.start()
        assert client.post("/api/sync", json={"changes": []}).status_code == 200
        assert client.get("/").status_code in (200, 302)
    finally:
        postgres.stop()
        with app.app_context():
            db.engine.dispose()
