"""The store stage's Sink: batches of processed events into the event database.

An event newly stored gets an ``accepted`` outcome, produced before its offset is committed; an
event the database already held gets none, so a replay or a duplicate is never counted twice.
Each row records the input message that stored it: when a batch committed but its
acknowledgement was lost (or the stage died before committing the offset), the retry of that
same message finds its own row and still emits the outcome it owes; with ``store.exactly_once``
the outcome and the offset commit in one Kafka transaction, so that retry never makes a second
copy of an outcome that was already out (pipeline.runtime.transactions). An outage becomes
SinkUnavailable: the runtime pauses intake and retries the same batch.

Items arrive encoded and are decoded here, on the sink's own thread. Decoding on the runtime's
worker threads cost more than it saved: the sink thread is the stage's bottleneck, and each
time SQLite released the GIL a decoding worker took it, so the writer spent about as long
waiting for the GIL as writing (store runtime / bare loop 0.74-0.84; decoding here, 0.86-0.87).
A message that does not decode fails its batch: the runtime then writes the batch's items one
by one and dead-letters that message alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from pipeline.adapters.db import EventKey, EventStore, StoreUnavailable
from pipeline.runtime.errors import SinkUnavailable
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import Outcomes, wall_ms

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class StoreItem:
    """An encoded processed event, its topic, and the input message it came from
    (``topic/partition/offset``)."""

    value: bytes
    topic: str
    source: str
    stage_times: Mapping[str, int] = field(default_factory=dict)
    """Of stages that passed the event on undecoded (passthrough.py)."""


Decode = Callable[[StoreItem], dict[str, Any]]


class EventSink:
    """Opens the database on first use if it was down at start-up; written from one thread."""

    def __init__(
        self,
        open_store: Callable[[], EventStore],
        outcomes: Outcomes,
        decode: Decode,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self._open = open_store
        self._outcomes = outcomes
        self._decode = decode
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

    def write(self, items: Sequence[StoreItem]) -> Sequence[Sequence[Produce]]:
        """InvalidEvent or DecodeError propagates: the runtime then writes items singly and
        dead-letters the one that raised."""
        store = self._connected()
        events = [self._decode(item) for item in items]
        now_ms = self._clock()
        try:
            result = store.write_batch(events, now_ms, [item.source for item in items])
        except StoreUnavailable as exc:
            raise SinkUnavailable(str(exc)) from exc
        owed = {*result.inserted, *result.rewritten}
        follow_ups: list[Sequence[Produce]] = []
        for event in events:
            key = EventKey(event["project_id"], event["event_id"])
            if key in owed:
                owed.discard(key)  # a second copy in the same batch owes nothing
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
