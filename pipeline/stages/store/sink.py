"""The store stage's Sink: batches of processed events into the event database.

An event newly stored gets an ``accepted`` outcome, produced before its offset is committed; an
event the database already held gets none, so a replay or a redelivery is never counted twice.
An outage becomes SinkUnavailable: the runtime pauses intake and retries the same batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from pipeline.adapters.db import EventKey, EventStore, StoreUnavailable
from pipeline.runtime.errors import SinkUnavailable
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import Outcomes, wall_ms

log = structlog.get_logger()


class EventSink:
    """Opens the database on first use if it was down at start-up; written from one thread."""

    def __init__(
        self,
        open_store: Callable[[], EventStore],
        outcomes: Outcomes,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self._open = open_store
        self._outcomes = outcomes
        self._clock = clock
        self._store: EventStore | None = None

    def connect(self) -> bool:
        """Try to open the database now; False (logged) when it is unreachable."""
        try:
            self._connected()
        except SinkUnavailable as exc:
            log.warning("store.unavailable_at_start", error=str(exc))
            return False
        return True

    def write(self, items: Sequence[Any]) -> Sequence[Sequence[Produce]]:
        """InvalidEvent propagates: the runtime then writes items singly and dead-letters it."""
        store = self._connected()
        now_ms = self._clock()
        try:
            result = store.write_batch(items, now_ms)
        except StoreUnavailable as exc:
            raise SinkUnavailable(str(exc)) from exc
        fresh = set(result.inserted)
        follow_ups: list[Sequence[Produce]] = []
        for event in items:
            key = EventKey(event["project_id"], event["event_id"])
            if key in fresh:
                fresh.discard(key)  # a second copy in the same batch is not new
                follow_ups.append((self._accepted(event, now_ms),))
            else:
                follow_ups.append(())
        return follow_ups

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _connected(self) -> EventStore:
        if self._store is None:
            try:
                self._store = self._open()
            except StoreUnavailable as exc:
                raise SinkUnavailable(str(exc)) from exc
        return self._store

    def _accepted(self, event: Mapping[str, Any], now_ms: int) -> Produce:
        return self._outcomes.produce(
            "accepted",
            event_id=event["event_id"],
            project_id=event["project_id"],
            received_at_ms=event["received_at_ms"],
            now_ms=now_ms,
        )
