"""Databases the store stage writes to: SQLite and PostgreSQL."""

from pipeline.adapters.db.base import (
    EventKey,
    EventStore,
    EventSummary,
    GroupOrder,
    GroupSummary,
    InvalidEvent,
    StoredEvent,
    StoreUnavailable,
    WriteResult,
)
from pipeline.adapters.db.factory import open_store

__all__ = [
    "EventKey",
    "EventStore",
    "EventSummary",
    "GroupOrder",
    "GroupSummary",
    "InvalidEvent",
    "StoreUnavailable",
    "StoredEvent",
    "WriteResult",
    "open_store",
]
