"""What SQLite and PostgreSQL stores share: one connection behind a lock, reconnect after an
outage, every database failure that is not the data's fault raised as StoreUnavailable.

A backend supplies how to connect, which errors are transient, how to run a transaction and
how to write a batch; the queries and the locking live here once.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

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
from pipeline.adapters.db.records import PreparedBatch, prepare_batch

C = TypeVar("C")
T = TypeVar("T")
log = structlog.get_logger()


class SqlStore(ABC, Generic[C]):
    backend: str
    placeholder: str
    connect_errors: tuple[type[Exception], ...]
    """What ``_connect`` raises when the database cannot be reached or opened."""

    def __init__(self, target: str, *, timeout_s: float) -> None:
        self._target = target
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conn: C | None = None
        self._closed = False
        with self._lock:
            self._guarded(self._connection)

    # ----- what a backend provides ----------------------------------------------------------

    @abstractmethod
    def _connect(self) -> C:
        """A new connection with the schema brought up to date."""

    @abstractmethod
    def _usable(self, conn: C) -> bool: ...

    @abstractmethod
    def _disconnect(self, conn: C) -> None: ...

    @abstractmethod
    def _transient(self, exc: Exception) -> bool:
        """True for the database's own trouble (busy, unreachable, restarting), not bad data."""

    @abstractmethod
    def _in_transaction(self, conn: C, work: Callable[[C], T]) -> T: ...

    @abstractmethod
    def _write(self, conn: C, batch: PreparedBatch) -> WriteResult: ...

    @abstractmethod
    def _record(self, stored: Any) -> dict[str, Any]:
        """The event record from its stored column (JSON text or already decoded)."""

    # ----- the EventStore API ---------------------------------------------------------------

    def write_batch(
        self,
        events: Sequence[Mapping[str, Any]],
        now_ms: int,
        sources: Sequence[str | None] | None = None,
    ) -> WriteResult:
        batch = prepare_batch(events, now_ms, sources)
        return self._transaction(lambda conn: self._write(conn, batch))

    def get_event(self, project_id: int, event_id: str) -> StoredEvent | None:
        rows = self._query(queries.select_event(self.placeholder), [project_id, event_id])
        return queries.stored_from_row(rows[0], self._record(rows[0][-1])) if rows else None

    def list_events(
        self,
        project_id: int | None = None,
        group: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[EventSummary]:
        sql, params = queries.select_events(self.placeholder, project_id, group, event_id, limit)
        return [queries.summary_from_row(row) for row in self._query(sql, params)]

    def list_groups(
        self, project_id: int | None = None, limit: int = 50, order: GroupOrder = "last_seen"
    ) -> list[GroupSummary]:
        sql, params = queries.select_groups(self.placeholder, project_id, limit, order)
        return [queries.group_from_row(row) for row in self._query(sql, params)]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()

    # ----- plumbing -------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return self._guarded(lambda: self._execute(self._connection(), sql, params))

    @staticmethod
    def _execute(conn: Any, sql: str, params: Sequence[Any]) -> list[Any]:
        return list(conn.execute(sql, params).fetchall())

    def _transaction(self, work: Callable[[C], T]) -> T:
        with self._lock:
            return self._guarded(lambda: self._in_transaction(self._connection(), work))

    def _guarded(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except StoreUnavailable:
            raise
        except Exception as exc:
            if not self._transient(exc):
                raise
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        self._drop()
        log.warning("store.unavailable", backend=self.backend, target=self._target, error=str(exc))
        return StoreUnavailable(f"{self.backend} database {self._target} is unavailable: {exc}")

    def _connection(self) -> C:
        """The open connection, or a new one. Any failure here is the database's, never the
        data's, so it is always StoreUnavailable."""
        if self._closed:
            raise RuntimeError("the store is closed")
        if self._conn is not None and self._usable(self._conn):
            return self._conn
        self._drop()
        try:
            self._conn = self._connect()
        except self.connect_errors as exc:
            raise self._unavailable(exc) from exc
        log.debug("store.connected", backend=self.backend, target=self._target)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._disconnect(conn)
