"""The embedded event store: one SQLite file in WAL mode.

Writers take the database write lock up front (``BEGIN IMMEDIATE``), so several stores on the
same file, in one process or several, serialize their batches and counts stay exact.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from pipeline.adapters.db.base import WriteResult
from pipeline.adapters.db.migrations import pending
from pipeline.adapters.db.records import PreparedBatch, aggregate_groups
from pipeline.adapters.db.sql_store import SqlStore

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
    stored_at_ms, level, platform, release, environment, title, culprit, data, stored_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (project_id, event_id) DO NOTHING
"""
_STORED_BY = "SELECT 1 FROM events WHERE project_id = ? AND event_id = ? AND stored_by = ?"

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


class SqliteStore(SqlStore[sqlite3.Connection]):
    backend = "SQLite"
    placeholder = "?"
    connect_errors = (sqlite3.Error, OSError)

    def __init__(self, path: str, *, timeout_s: float) -> None:
        self._path = path
        super().__init__(path, timeout_s=timeout_s)

    def _connect(self) -> sqlite3.Connection:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self._path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # A committed batch must survive a power cut: Kafka offsets are committed after it.
            conn.execute("PRAGMA synchronous = FULL")
            self._in_transaction(conn, _migrate)
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _usable(self, conn: sqlite3.Connection) -> bool:
        return True

    def _disconnect(self, conn: sqlite3.Connection) -> None:
        conn.close()

    def _transient(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.Error) and _is_transient(exc)

    def _in_transaction(
        self, conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
    ) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        return result

    def _write(self, conn: sqlite3.Connection, batch: PreparedBatch) -> WriteResult:
        inserted, rewritten = [], []
        for row in batch.rows:
            if conn.execute(_INSERT_EVENT, row).rowcount == 1:
                inserted.append(row)
            elif (
                row.stored_by is not None
                and conn.execute(
                    _STORED_BY, (row.project_id, row.event_id, row.stored_by)
                ).fetchone()
            ):
                rewritten.append(row.key)  # an earlier attempt of this same message stored it
        conn.executemany(_UPSERT_GROUP, aggregate_groups(inserted))
        return batch.result((row.key for row in inserted), rewritten)

    def _record(self, stored: Any) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(stored)
        return record


def _is_transient(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _TRANSIENT_CODES


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
