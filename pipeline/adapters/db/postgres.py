"""The production event store: PostgreSQL through psycopg 3, one connection behind a lock.

A batch is two statements in one transaction: insert the events (``ON CONFLICT DO NOTHING
RETURNING`` tells which were new), then upsert their groups with only the new ones counted.
Rows go in key order, so concurrent writers lock rows in the same order and do not deadlock.
Columns travel as arrays in binary format (``%b``): the server parses text-format arrays of
JSON several times slower.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg import conninfo

from pipeline.adapters.db import queries
from pipeline.adapters.db.base import (
    EventKey,
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
Connection = psycopg.Connection[tuple[Any, ...]]
log = structlog.get_logger()

# SQLSTATE classes of a database that is unreachable, overloaded, restarting or resolving a
# conflict between writers: connection exception, transaction rollback (serialization failure,
# deadlock), insufficient resources, operator intervention (shutdown, timeout), system error.
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_MIGRATION_LOCK = 0x706970656C696E65  # pg_advisory_xact_lock key; b"pipeline"

_INSERT_EVENTS = """
INSERT INTO events (project_id, event_id, grouping_hash, timestamp_ms, received_at_ms,
    stored_at_ms, level, platform, release, environment, title, culprit, data)
SELECT t.project_id, t.event_id, t.grouping_hash, t.timestamp_ms, t.received_at_ms,
    t.stored_at_ms, t.level, t.platform, t.release, t.environment, t.title, t.culprit,
    t.data::jsonb
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[],
    %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[])
    WITH ORDINALITY AS t(project_id, event_id, grouping_hash, timestamp_ms, received_at_ms,
        stored_at_ms, level, platform, release, environment, title, culprit, data, ord)
ORDER BY t.ord
ON CONFLICT (project_id, event_id) DO NOTHING
RETURNING project_id, event_id
"""

_UPSERT_GROUPS = """
INSERT INTO groups AS g (project_id, grouping_hash, title, culprit, level, first_seen_ms,
    last_seen_ms, times_seen)
SELECT t.project_id, t.grouping_hash, t.title, t.culprit, t.level, t.first_seen_ms,
    t.last_seen_ms, t.times_seen
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[],
    %b::bigint[], %b::bigint[])
    WITH ORDINALITY AS t(project_id, grouping_hash, title, culprit, level, first_seen_ms,
        last_seen_ms, times_seen, ord)
ORDER BY t.ord
ON CONFLICT (project_id, grouping_hash) DO UPDATE SET
    title = CASE WHEN EXCLUDED.last_seen_ms >= g.last_seen_ms THEN EXCLUDED.title ELSE g.title END,
    culprit = CASE WHEN EXCLUDED.last_seen_ms >= g.last_seen_ms
        THEN EXCLUDED.culprit ELSE g.culprit END,
    level = CASE WHEN EXCLUDED.last_seen_ms >= g.last_seen_ms THEN EXCLUDED.level ELSE g.level END,
    first_seen_ms = LEAST(g.first_seen_ms, EXCLUDED.first_seen_ms),
    last_seen_ms = GREATEST(g.last_seen_ms, EXCLUDED.last_seen_ms),
    times_seen = g.times_seen + EXCLUDED.times_seen
"""


class PostgresStore:
    def __init__(self, dsn: str, *, timeout_s: float) -> None:
        self._dsn = dsn
        self._timeout_s = timeout_s
        self._target = describe_dsn(dsn)
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._closed = False
        with self._lock:
            self._guarded(self._connection)

    def write_batch(self, events: Sequence[Mapping[str, Any]], now_ms: int) -> WriteResult:
        batch = prepare_batch(events, now_ms)
        return self._transaction(lambda conn: _write(conn, batch))

    def get_event(self, project_id: int, event_id: str) -> StoredEvent | None:
        rows = self._query(queries.select_event("%s"), [project_id, event_id])
        return queries.stored_from_row(rows[0], rows[0][-1]) if rows else None

    def list_events(
        self,
        project_id: int | None = None,
        group: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[EventSummary]:
        sql, params = queries.select_events("%s", project_id, group, event_id, limit)
        return [queries.summary_from_row(row) for row in self._query(sql, params)]

    def list_groups(
        self, project_id: int | None = None, limit: int = 50, order: GroupOrder = "last_seen"
    ) -> list[GroupSummary]:
        sql, params = queries.select_groups("%s", project_id, limit, order)
        return [queries.group_from_row(row) for row in self._query(sql, params)]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._guarded(lambda: self._connection().execute(sql, params).fetchall())

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._lock:
            return self._guarded(lambda: _in_transaction(self._connection(), work))

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run ``call`` turning an unreachable or overloaded server into StoreUnavailable."""
        try:
            return call()
        except psycopg.Error as exc:
            if not _is_transient(exc):
                raise
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        log.warning("store.unavailable", backend="postgres", target=self._target, error=str(exc))
        return StoreUnavailable(f"PostgreSQL at {self._target} is unavailable: {exc}")

    def _connection(self) -> Connection:
        """The open connection, or a new one with the schema brought up to date. Any failure
        here is the database's, never the data's, so it is always StoreUnavailable."""
        if self._closed:
            raise RuntimeError("the store is closed")
        if self._conn is not None and not (self._conn.closed or self._conn.broken):
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        timeout_ms = math.ceil(self._timeout_s * 1000)
        try:
            conn: Connection = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(2, math.ceil(self._timeout_s)),
                tcp_user_timeout=timeout_ms,
                application_name="pipeline-store",
            )
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", [str(timeout_ms)])
            _in_transaction(conn, _migrate)
        except psycopg.Error as exc:
            conn.close()
            raise self._unavailable(exc) from exc
        self._conn = conn
        log.debug("store.connected", backend="postgres", target=self._target)
        return conn


def describe_dsn(dsn: str) -> str:
    """``user@host:port/dbname`` of a DSN, without its password, for logs and messages."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable DSN)"
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"{user}{params.get('host', 'localhost')}{port}/{params.get('dbname', '')}"


def _is_transient(exc: psycopg.Error) -> bool:
    if exc.sqlstate is None:  # raised by the client: refused, lost, timed out
        return isinstance(exc, psycopg.OperationalError)
    return exc.sqlstate[:2] in _TRANSIENT_CLASSES


def _in_transaction(conn: Connection, work: Callable[[Connection], T]) -> T:
    with conn.transaction():
        return work(conn)


def _write(conn: Connection, batch: PreparedBatch) -> WriteResult:
    if not batch.rows:
        return batch.result(())
    columns = [list(column) for column in zip(*batch.rows, strict=True)]
    returned = conn.execute(_INSERT_EVENTS, columns).fetchall()
    inserted = {EventKey(project_id, event_id) for project_id, event_id in returned}
    deltas = aggregate_groups(row for row in batch.rows if row.key in inserted)
    if deltas:
        conn.execute(_UPSERT_GROUPS, [list(column) for column in zip(*deltas, strict=True)])
    return batch.result(inserted)


def _migrate(conn: Connection) -> None:
    conn.execute("SET LOCAL statement_timeout = 0")  # a migration may rebuild a large table
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    applied = {version for (version,) in conn.execute("SELECT version FROM schema_migrations")}
    for migration in pending("postgres", applied):
        conn.execute(migration.sql)
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
            [migration.version, migration.name],
        )
        log.info("store.migrated", backend="postgres", version=migration.version)
