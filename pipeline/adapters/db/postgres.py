"""The production event store: PostgreSQL through psycopg 3.

A batch is two statements in one transaction: insert the events (``ON CONFLICT DO NOTHING
RETURNING`` tells which were new), then upsert their groups with only the new ones counted.
Rows go in key order, so concurrent writers lock rows in the same order and do not deadlock.
Columns travel as arrays in binary format (``%b``): the server parses text-format arrays of
JSON several times slower.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg import conninfo

from pipeline.adapters.db.base import EventKey, WriteResult
from pipeline.adapters.db.migrations import pending
from pipeline.adapters.db.records import PreparedBatch, aggregate_groups
from pipeline.adapters.db.sql_store import SqlStore

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
    stored_at_ms, level, platform, release, environment, title, culprit, data, stored_by)
SELECT t.project_id, t.event_id, t.grouping_hash, t.timestamp_ms, t.received_at_ms,
    t.stored_at_ms, t.level, t.platform, t.release, t.environment, t.title, t.culprit,
    t.data::jsonb, t.stored_by
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[],
    %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
    %b::text[])
    WITH ORDINALITY AS t(project_id, event_id, grouping_hash, timestamp_ms, received_at_ms,
        stored_at_ms, level, platform, release, environment, title, culprit, data, stored_by,
        ord)
ORDER BY t.ord
ON CONFLICT (project_id, event_id) DO UPDATE SET stored_by = EXCLUDED.stored_by
    WHERE events.stored_by = EXCLUDED.stored_by
RETURNING project_id, event_id, xmax = 0
"""
# The no-op update returns a row stored by an earlier attempt of the same input message;
# xmax = 0 tells a fresh insert from it.

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


class PostgresStore(SqlStore[Connection]):
    backend = "PostgreSQL"
    placeholder = "%s"
    connect_errors = (psycopg.Error,)

    def __init__(self, dsn: str, *, timeout_s: float) -> None:
        self._dsn = dsn
        super().__init__(describe_dsn(dsn), timeout_s=timeout_s)

    def _connect(self) -> Connection:
        timeout_ms = math.ceil(self._timeout_s * 1000)
        conn: Connection = psycopg.connect(
            self._dsn,
            autocommit=True,
            connect_timeout=max(2, math.ceil(self._timeout_s)),
            tcp_user_timeout=timeout_ms,
            application_name="pipeline-store",
        )
        try:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", [str(timeout_ms)])
            self._in_transaction(conn, _migrate)
        except psycopg.Error:
            conn.close()
            raise
        return conn

    def _usable(self, conn: Connection) -> bool:
        return not (conn.closed or conn.broken)

    def _disconnect(self, conn: Connection) -> None:
        conn.close()

    def _transient(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.Error) and _is_transient(exc)

    def _in_transaction(self, conn: Connection, work: Callable[[Connection], T]) -> T:
        with conn.transaction():
            return work(conn)

    def _write(self, conn: Connection, batch: PreparedBatch) -> WriteResult:
        if not batch.rows:
            return batch.result(())
        columns = [list(column) for column in zip(*batch.rows, strict=True)]
        returned = conn.execute(_INSERT_EVENTS, columns).fetchall()
        inserted = {EventKey(p, e) for p, e, fresh in returned if fresh}
        rewritten = {EventKey(p, e) for p, e, fresh in returned if not fresh}
        deltas = aggregate_groups(row for row in batch.rows if row.key in inserted)
        if deltas:
            conn.execute(_UPSERT_GROUPS, [list(column) for column in zip(*deltas, strict=True)])
        return batch.result(inserted, rewritten)

    def _record(self, stored: Any) -> dict[str, Any]:
        record: dict[str, Any] = stored  # jsonb arrives decoded
        return record


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
