"""What flows through a stage: the input message and what processing it emits.

These are created for every message, so they are plain slotted dataclasses rather than frozen
ones (frozen construction costs microseconds); treat them as immutable.
"""

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

    ``received_at_ms`` is the edge's receive time (header), else the broker timestamp.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: Headers = ()
    received_at_ms: int = -1
    """-1 means unknown: use ``received_at(headers, timestamp_ms)`` when building one."""

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def received_at(headers: Headers, default_ms: int) -> int:
    for key, value in headers:
        if key == RECEIVED_AT_HEADER:
            try:
                return int(value)
            except ValueError:
                break
    return default_ms


@dataclass(slots=True)
class Produce:
    """A record for a Kafka topic; the input offset waits for its delivery report."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()


@dataclass(slots=True)
class Write:
    """An item for the stage's sink (e.g. the database); the offset waits for the durable write."""

    item: Any


Emit = Produce | Write


@dataclass(slots=True)
class Processed:
    """What a process function returns: everything to emit for one input message."""

    emits: Sequence[Emit] = field(default_factory=tuple)
