"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from tests.conftest import _test_config


def _migration_db_url(tmp_path: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'migrations.sqlite'}"
    base, _, name = url.rpartition("/")
    target = f"{name}_migrations"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target}"'))
        conn.execute(text(f'CREATE DATABASE "{target}"'))
    admin.dispose()
    return f"{base}/{target}"


def _diff(app: Any) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, db.metadata)
        return [d for d in diff if not _is_alembic_version_table(d)]


def _is_alembic_version_table(change: Any) -> bool:
    return (
        isinstance(change, tuple)
        and change[0] == "remove_table"
        and (change[1].name == "alembic_version")
    )


def test_upgrade_matches_the_models_and_downgrade_undoes_it(tmp_path: Path) -> None:
    app = create_app(**_test_config(tmp_path, SQLALCHEMY_DATABASE_URI=_migration_db_url(tmp_path)))
    with app.app_context():
        upgrade()
        assert _diff(app) == []
        downgrade(revision="base")
        with db.engine.connect() as conn:
            tables = db.inspect(conn).get_table_names()
        assert set(tables) <= {"alembic_version"}
        db.engine.dispose()
