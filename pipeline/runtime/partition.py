"""What the loop knows about one assigned partition, and what it tells observers about it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pipeline.cohorts.book import PartitionCohorts
from pipeline.runtime.messages import InputMessage, Produce
from pipeline.runtime.offsets import OffsetTracker

TopicPartitionKey = tuple[str, int]


@dataclass(slots=True)
class Work(InputMessage):
    """A message between being taken and being finished: handed to the producer or sink.

    It is the message itself plus bookkeeping, so the hot path allocates one object, not two.
    ``epoch`` ties it to one assignment of its partition; ``pending`` counts outputs not yet
    handed over (records waiting for producer room, sink writes in progress).
    """

    epoch: int = 0
    taken_at: float = 0.0
    pending: int = 0
    column: int = 0
    """What the message came to, as a cohort column (pipeline.cohorts.counts); forwarded until
    its results say otherwise."""


@dataclass
class PartitionState:
    """Kept across rebalances only while the partition stays assigned.

    ``epoch`` changes on every (re)assignment and seek, so completions of work taken before
    then are recognised as stale and ignored.
    """

    epoch: int
    tracker: OffsetTracker = field(default_factory=OffsetTracker)
    committed: int | None = None
    last_timestamp_ms: int | None = None
    high_watermark: int | None = None
    revoking: bool = False
    stop_at: int | None = None
    held: deque[Any] = field(default_factory=deque)
    """Consumed but not yet taken: the part of a consume() batch beyond the window."""
    held_last: int | None = None
    finished_outputs: list[tuple[int, Produce]] = field(default_factory=list)
    """Exactly-once stages: records of finished work, by input offset, until a commit covers
    that offset (pipeline.runtime.transactions)."""
    consumed: int = 0
    consumed_reported: int = 0
    recent_failures: deque[bool] = field(default_factory=deque)
    metric_children: dict[str, Any] = field(default_factory=dict)
    cohorts: PartitionCohorts | None = None
    """Set when the stage counts cohorts."""

    @property
    def position(self) -> int | None:
        """The next offset the consumer will take."""
        last = self.tracker.last_seen
        return None if last is None else last + 1


@dataclass(frozen=True)
class PartitionStatus:
    """A snapshot for observers such as the backlog slicer and the status view."""

    topic: str
    partition: int
    position: int | None
    committed: int | None
    high_watermark: int | None
    in_flight: int
    last_timestamp_ms: int | None
    paused_reasons: frozenset[str]

    @property
    def lag(self) -> int | None:
        if self.high_watermark is None or self.position is None:
            return None
        return max(0, self.high_watermark - self.position)

    def age_ms(self, now_ms: int) -> int | None:
        """How old the message at the consumer's position is (approximated by the last taken)."""
        return None if self.last_timestamp_ms is None else max(0, now_ms - self.last_timestamp_ms)
