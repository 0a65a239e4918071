"""SQLite connection settings: enforce foreign keys (ON DELETE rules), WAL for concurrent
readers across worker processes, a busy timeout, and real transactions (pysqlite otherwise
opens them lazily, which breaks SAVEPOINTs).

A request that may write (POST, PUT, PATCH, DELETE) opens its transaction with BEGIN IMMEDIATE:
it waits (busy_timeout) for the write lock up front, instead of reading under a snapshot and
failing with "database is locked" when another process wrote meanwhile. Reads keep a plain
BEGIN so pages never wait for writers (WAL). Code outside a request that reads then writes
(a script, a test fixture) asks for the same with the execution option
`sqlite_begin_immediate=True`."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    writing_request = has_request_context() and request.method in WRITE_METHODS
    if writing_request or connection.get_execution_options().get("sqlite_begin_immediate"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")
