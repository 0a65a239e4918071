"""SQLite connection settings (app/db_setup.py): writers in one process queue for the lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, text

import app.db_setup  # noqa: F401 — registers the engine listeners


def test_writers_of_one_process_queue_instead_of_failing(tmp_path: Path) -> None:
    """With a 1 ms busy timeout, SQLite alone refuses every writer that arrives while another
    holds the lock ("database is locked"); queued, each waits for its turn and succeeds."""
    engine = create_engine(f"sqlite:///{tmp_path / 'queue.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE ticks (n INTEGER)"))
    errors: list[Exception] = []

    def write(n: int) -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA busy_timeout=1")
                conn.commit()
                conn = conn.execution_options(sqlite_begin_immediate=True)
                with conn.begin():
                    conn.execute(text("INSERT INTO ticks VALUES (:n)"), {"n": n})
                    time.sleep(0.02)  # the transaction goes on while the others arrive
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM ticks")) == 8
    engine.dispose()


def test_a_failed_write_leaves_the_queue_open(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'failed.sqlite'}")
    immediate = engine.execution_options(sqlite_begin_immediate=True)
    with pytest.raises(Exception, match="no such table"), immediate.begin() as conn:
        conn.execute(text("INSERT INTO missing VALUES (1)"))
    done = threading.Event()

    def write() -> None:
        with immediate.begin() as conn:
            conn.execute(text("CREATE TABLE later (n INTEGER)"))
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(5), "the next writer waited for a lock nobody held"
    engine.dispose()


def test_a_write_request_reads_without_the_write_lock_once_committed(tmp_path: Path) -> None:
    """What a POST renders after its commit must not queue behind other writers."""
    engine = create_engine(f"sqlite:///{tmp_path / 'post.sqlite'}")
    begins: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    web = Flask(__name__)

    @web.post("/")
    def write_then_render() -> str:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
            conn.commit()
            return str(conn.scalar(text("SELECT count(*) FROM t")))

    assert web.test_client().post("/").status_code == 200
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]
    engine.dispose()


def test_start_writing_takes_the_write_lock_after_the_reads(tmp_path: Path) -> None:
    """A GET that writes after reading ends its read transaction and waits for the lock, as
    the sheet page (read mark) and the first opening of an assessment do."""
    from app import create_app
    from app.extensions import db, start_writing
    from app.models import School
    from tests.conftest import _test_config

    web = create_app(**_test_config(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/w.db"))
    with web.app_context():
        db.create_all()
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.startswith(("BEGIN", "INSERT", "SELECT")):
                seen.append(
                    " ".join(statement.split()[:2])
                    if "IMMEDIATE" in statement
                    else statement.split()[0]
                )

        event.listen(db.engine, "before_cursor_execute", record)

    @web.get("/lecture-puis-ecriture")
    def read_then_write() -> str:
        db.session.scalar(text("SELECT count(*) FROM schools"))
        start_writing()
        db.session.add(School(name="Lycée Jean Moulin"))
        db.session.commit()
        return "ok"

    assert web.test_client().get("/lecture-puis-ecriture").status_code == 200
    assert seen == ["BEGIN", "SELECT", "BEGIN IMMEDIATE", "INSERT"]
    with web.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM schools")) == 1
