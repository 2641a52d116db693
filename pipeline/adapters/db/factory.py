"""Open the event store a DSN names: ``sqlite:///path`` or ``postgresql://...``."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
from psycopg import conninfo

from pipeline.adapters.db.base import EventStore
from pipeline.adapters.db.postgres import PostgresStore, describe_dsn
from pipeline.adapters.db.sqlite import SqliteStore
from pipeline.errors import ConfigError

_EXPECTED = "expected sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://..."


def open_store(dsn: str, *, timeout_s: float = 10.0) -> EventStore:
    """Connect and create or migrate the schema. Raises ConfigError for a malformed DSN and
    StoreUnavailable when the database cannot be reached."""
    scheme = dsn.partition("://")[0].lower() if "://" in dsn else ""
    if scheme == "sqlite":
        return SqliteStore(sqlite_path(dsn), timeout_s=timeout_s)
    if scheme in ("postgresql", "postgres"):
        try:
            conninfo.conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"store DSN {describe_dsn(dsn)} is malformed: {exc}") from None
        return PostgresStore(dsn, timeout_s=timeout_s)
    shown = f"{scheme}://..." if scheme else repr(dsn)
    raise ConfigError(f"store DSN {shown} names no known database; {_EXPECTED}")


def sqlite_path(dsn: str) -> str:
    """The file of ``sqlite:///relative`` or ``sqlite:////absolute`` (``:memory:`` allowed)."""
    parts = urlsplit(dsn)
    path = parts.path[1:]
    if parts.netloc or not path or parts.query or parts.fragment:
        raise ConfigError(f"store DSN {dsn!r} is not a SQLite file; {_EXPECTED}")
    return path
