"""What flows through a stage: the input message and what processing it emits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

RECEIVED_AT_HEADER = "received_at_ms"
"""Kafka header every producer sets and the runtime carries forward, so cohorts need no decoding."""

Headers = Sequence[tuple[str, bytes]]


@dataclass(slots=True)
class InputMessage:
    """One consumed record, detached from librdkafka so it can cross to a worker process.

    Treat as immutable; not frozen because frozen dataclasses cost microseconds per message.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: Headers = ()

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def received_at_ms(self) -> int:
        """Edge receive time from the header, else the broker timestamp."""
        if not self.headers:
            return self.timestamp_ms
        raw = self.header(RECEIVED_AT_HEADER)
        if raw is not None:
            try:
                return int(raw)
            except ValueError:
                pass
        return self.timestamp_ms


@dataclass(frozen=True, slots=True)
class Produce:
    """A record for a Kafka topic; the input offset waits for its delivery report."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Write:
    """An item for the stage's sink (e.g. the database); the offset waits for the durable write."""

    item: Any


Emit = Produce | Write


@dataclass(frozen=True, slots=True)
class Processed:
    """What a process function returns: everything to emit for one input message."""

    emits: Sequence[Emit] = field(default_factory=tuple)
