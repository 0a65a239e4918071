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
IMMEDIATE with the execution option `sqlite_begin_immediate=True`."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

BUSY_TIMEOUT_MS = 10_000


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
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


@event.listens_for(Engine, "commit")
def _sqlite_commit(connection: Connection) -> None:
    if connection.dialect.name == "sqlite" and has_request_context():
        g.sqlite_committed = True
