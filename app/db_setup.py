"""SQLite connection settings: enforce foreign keys (ON DELETE rules), WAL for concurrent
readers across worker processes, a busy timeout, and real transactions (pysqlite otherwise
opens them lazily, which breaks SAVEPOINTs).

A request that may write (POST, PUT, PATCH, DELETE) opens its transaction with BEGIN IMMEDIATE:
it waits (busy_timeout) for the write lock up front, instead of reading under a snapshot and
failing with "database is locked" when another process wrote meanwhile. Once it has
committed, it only renders its answer: the transactions it opens then are plain BEGIN, out of
the writers' way (no route writes after its commit). Reads keep a plain BEGIN so pages never
wait for writers (WAL); a GET that writes after reading calls `extensions.start_writing()`.
Code outside a request that reads then writes (a script, a test fixture) asks for BEGIN
IMMEDIATE with the execution option `sqlite_begin_immediate=True`.

Within a process, writers queue on a lock before BEGIN IMMEDIATE and hold it until their
transaction ends. SQLite's busy handler polls with growing sleeps (up to 100 ms), so under
load a writer could wait seconds while others kept winning; a queued thread starts the moment
the previous one commits. Across processes the busy handler still arbitrates, between one
writer per process."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

BUSY_TIMEOUT_MS = 10_000
_writer_queue = threading.Lock()
_HOLDS_QUEUE = "passerelle_holds_writer_queue"  # key in the DBAPI connection's info


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    # After its first commit, a request only renders its answer: read-only, no write lock.
    writing_request = (
        has_request_context()
        and request.method in WRITE_METHODS
        and not g.get("sqlite_committed", False)
    )
    if writing_request or connection.get_execution_options().get("sqlite_begin_immediate"):
        _join_writer_queue(connection.info)
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def _join_writer_queue(info: dict[Any, Any]) -> None:
    if info.get(_HOLDS_QUEUE):
        return
    # Past the busy timeout, go on without the queue: SQLite's own wait then decides.
    info[_HOLDS_QUEUE] = _writer_queue.acquire(timeout=BUSY_TIMEOUT_MS / 1000)


def _leave_writer_queue(info: dict[Any, Any]) -> None:
    if info.pop(_HOLDS_QUEUE, False):
        _writer_queue.release()


@event.listens_for(Engine, "commit")
def _sqlite_commit(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        _leave_writer_queue(connection.info)
        if has_request_context():
            g.sqlite_committed = True


@event.listens_for(Engine, "rollback")
def _sqlite_rollback(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        _leave_writer_queue(connection.info)


@event.listens_for(Pool, "checkin")
def _sqlite_checkin(dbapi_connection: Any, record: Any) -> None:
    # A connection returned or invalidated without a COMMIT or ROLLBACK event.
    if record is not None and isinstance(dbapi_connection, sqlite3.Connection):
        _leave_writer_queue(record.info)
