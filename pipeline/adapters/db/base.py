"""The contract every event database implements, and the values it returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

GroupOrder = Literal["last_seen", "first_seen", "times_seen"]


class StoreUnavailable(Exception):
    """The database cannot take writes right now; retry the same batch later (writes are
    idempotent, so a batch that was in fact committed is harmless to repeat)."""


class InvalidEvent(ValueError):
    """A record that can never be stored; nothing of its batch was written."""

    def __init__(self, index: int, event_id: object, reason: str) -> None:
        super().__init__(f"event #{index} ({event_id!r}) cannot be stored: {reason}")
        self.index = index
        self.event_id = event_id
        self.reason = reason


class EventKey(NamedTuple):
    project_id: int
    event_id: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Which events of a batch this write stored, and which were stored before (by an earlier
    batch, another writer, or an earlier copy in the same batch). Both keep batch order."""

    inserted: tuple[EventKey, ...]
    already_present: tuple[EventKey, ...]
    rewritten: tuple[EventKey, ...] = ()
    """Stored by an earlier attempt of the same input message whose acknowledgement was lost
    (or whose offset was never committed): their outcomes are still owed."""


@dataclass(frozen=True, slots=True)
class EventSummary:
    project_id: int
    event_id: str
    grouping_hash: str
    timestamp_ms: int
    received_at_ms: int
    stored_at_ms: int
    level: str
    platform: str
    release: str | None
    environment: str | None
    title: str
    culprit: str | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    summary: EventSummary
    record: dict[str, Any]
    """The processed_event record as it was written."""


@dataclass(frozen=True, slots=True)
class GroupSummary:
    project_id: int
    grouping_hash: str
    title: str
    culprit: str | None
    level: str
    first_seen_ms: int
    last_seen_ms: int
    times_seen: int


class EventStore(Protocol):
    """A thread-safe event database. Every method raises StoreUnavailable while the database is
    unreachable and reconnects on the next call."""

    def write_batch(
        self,
        events: Sequence[Mapping[str, Any]],
        now_ms: int,
        sources: Sequence[str | None] | None = None,
    ) -> WriteResult:
        """Store processed_event records in one transaction, idempotent on (project_id, event_id);
        only newly stored events count towards their group. Raises InvalidEvent for bad records.
        ``sources`` names each event's input message, so a retry can tell its own rows."""
        ...

    def get_event(self, project_id: int, event_id: str) -> StoredEvent | None: ...

    def list_events(
        self,
        project_id: int | None = None,
        group: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[EventSummary]:
        """Newest first (by event timestamp)."""
        ...

    def list_groups(
        self, project_id: int | None = None, limit: int = 50, order: GroupOrder = "last_seen"
    ) -> list[GroupSummary]:
        """Highest first in ``order``."""
        ...

    def close(self) -> None: ...
