"""Unbound extension singletons, bound to the app in create_app()."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic migrations are stable across SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate(render_as_batch=True)


@contextmanager
def objects_kept_on_commit() -> Iterator[None]:
    """Commits inside this block leave what the session has loaded as it is instead of
    expiring it: for a route that commits, then renders what it has just written (or ends a
    read transaction before writing) without loading it all again."""
    session = db.session()
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = True


def start_writing() -> None:
    """For a GET that writes after reading: end its read transaction (keeping what is loaded)
    and open one that takes the write lock first. On SQLite a write that follows reads fails
    at once ("database is locked") when another process wrote in between, while BEGIN
    IMMEDIATE waits its turn (app/db_setup.py); on PostgreSQL it is just a new transaction.
    Only between a route's reads and its first write: it commits the session."""
    with objects_kept_on_commit():
        db.session.commit()
    db.session.connection(execution_options={"sqlite_begin_immediate": True})
