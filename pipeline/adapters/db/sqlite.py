"""The embedded event store: one SQLite file in WAL mode, one connection behind a lock.

Writers take the database write lock up front (``BEGIN IMMEDIATE``), so several stores on the
same file, in one process or several, serialize their batches and counts stay exact.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog

from pipeline.adapters.db import queries
from pipeline.adapters.db.base import (
    EventSummary,
    GroupOrder,
    GroupSummary,
    StoredEvent,
    StoreUnavailable,
    WriteResult,
)
from pipeline.adapters.db.migrations import pending
from pipeline.adapters.db.records import PreparedBatch, aggregate_groups, prepare_batch

T = TypeVar("T")
log = structlog.get_logger()

# Primary result codes that mean "the file is busy or the disk is in trouble", not "bad data".
_TRANSIENT_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)

_INSERT_EVENT = """
INSERT INTO events (project_id, event_id, grouping_hash, timestamp_ms, received_at_ms,
    stored_at_ms, level, platform, release, environment, title, culprit, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (project_id, event_id) DO NOTHING
"""

_UPSERT_GROUP = """
INSERT INTO groups (project_id, grouping_hash, title, culprit, level, first_seen_ms,
    last_seen_ms, times_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (project_id, grouping_hash) DO UPDATE SET
    title = CASE WHEN excluded.last_seen_ms >= groups.last_seen_ms
        THEN excluded.title ELSE groups.title END,
    culprit = CASE WHEN excluded.last_seen_ms >= groups.last_seen_ms
        THEN excluded.culprit ELSE groups.culprit END,
    level = CASE WHEN excluded.last_seen_ms >= groups.last_seen_ms
        THEN excluded.level ELSE groups.level END,
    first_seen_ms = min(groups.first_seen_ms, excluded.first_seen_ms),
    last_seen_ms = max(groups.last_seen_ms, excluded.last_seen_ms),
    times_seen = groups.times_seen + excluded.times_seen
"""


class SqliteStore:
    def __init__(self, path: str, *, timeout_s: float) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        with self._lock:
            self._guarded(self._connection)

    def write_batch(self, events: Sequence[Mapping[str, Any]], now_ms: int) -> WriteResult:
        batch = prepare_batch(events, now_ms)
        return self._transaction(lambda conn: _write(conn, batch))

    def get_event(self, project_id: int, event_id: str) -> StoredEvent | None:
        rows = self._query(queries.select_event("?"), [project_id, event_id])
        if not rows:
            return None
        return queries.stored_from_row(rows[0], json.loads(rows[0][-1]))

    def list_events(
        self,
        project_id: int | None = None,
        group: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[EventSummary]:
        sql, params = queries.select_events("?", project_id, group, event_id, limit)
        return [queries.summary_from_row(row) for row in self._query(sql, params)]

    def list_groups(
        self, project_id: int | None = None, limit: int = 50, order: GroupOrder = "last_seen"
    ) -> list[GroupSummary]:
        sql, params = queries.select_groups("?", project_id, limit, order)
        return [queries.group_from_row(row) for row in self._query(sql, params)]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return self._guarded(lambda: self._connection().execute(sql, params).fetchall())

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return self._guarded(lambda: _in_transaction(self._connection(), work))

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run ``call`` turning a busy or failing database into StoreUnavailable."""
        try:
            return call()
        except sqlite3.Error as exc:
            if not _is_transient(exc):
                raise
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        self._drop()
        log.warning("store.unavailable", backend="sqlite", path=self._path, error=str(exc))
        return StoreUnavailable(f"SQLite database {self._path} is unavailable: {exc}")

    def _connection(self) -> sqlite3.Connection:
        """The open connection, or a new one with the schema brought up to date. Any failure
        here is the database's, never the data's, so it is always StoreUnavailable."""
        if self._closed:
            raise RuntimeError("the store is closed")
        if self._conn is not None:
            return self._conn
        conn = None
        try:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self._path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode = WAL")
            # A committed batch must survive a power cut: Kafka offsets are committed after it.
            conn.execute("PRAGMA synchronous = FULL")
            _in_transaction(conn, _migrate)
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            raise self._unavailable(exc) from exc
        self._conn = conn
        log.debug("store.connected", backend="sqlite", path=self._path)
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _is_transient(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _TRANSIENT_CODES


def _in_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return result


def _write(conn: sqlite3.Connection, batch: PreparedBatch) -> WriteResult:
    inserted = [row for row in batch.rows if conn.execute(_INSERT_EVENT, row).rowcount == 1]
    conn.executemany(_UPSERT_GROUP, aggregate_groups(inserted))
    return batch.result(row.key for row in inserted)


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    applied = {version for (version,) in conn.execute("SELECT version FROM schema_migrations")}
    for migration in pending("sqlite", applied):
        for statement in _statements(migration.sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
            (migration.version, migration.name),
        )
        log.info("store.migrated", backend="sqlite", version=migration.version)


def _statements(script: str) -> list[str]:
    """Split a SQL script into statements (sqlite3.execute runs one at a time)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if current.strip():
        statements.append(current)
    return statements
