"""Outcome records: what became of each event, so accepted + filtered + invalid accounts for all.

Every stage writes them to the ``outcomes`` topic, keyed by project_id (reporting counts per
project). A record carries the edge's receive time, so outcomes can be read by cohort.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.adapters.kafka.codec import Codec
from pipeline.cohorts.counts import OUTCOME_HEADER
from pipeline.runtime.messages import RECEIVED_AT_HEADER, Headers, InputMessage, Produce

OUTCOMES_TOPIC = "outcomes"
OUTCOME_SCHEMA = "outcome"

OutcomeKind = Literal["accepted", "filtered", "rate_limited", "invalid", "client_discarded"]
"""``client_discarded``: items an SDK dropped itself and counted in a client report."""

# Why a dead-lettered message failed, from the exception class the runtime names in its error.
UNDECODABLE = "undecodable"
UNSTORABLE = "unstorable"
PROCESSING_FAILED = "processing_failed"
_REASONS = {"DecodeError": UNDECODABLE, "InvalidEvent": UNSTORABLE}


def wall_ms() -> int:
    """Wall time in ms for outcomes and ``stage_times_ms``; module-level, so picklable."""
    return time.time_ns() // 1_000_000


def received_at_headers(received_at_ms: int) -> Headers:
    """The header the runtime reads an event's cohort from without decoding it (a list: the
    Kafka client takes no tuple)."""
    return [(RECEIVED_AT_HEADER, str(received_at_ms).encode())]


@dataclass(frozen=True)
class Outcomes:
    """Builds one stage's outcome records for the (prefixed) outcomes topic."""

    codec: Codec
    topic: str
    stage: str

    def produce(
        self,
        kind: OutcomeKind,
        *,
        event_id: str,
        project_id: int,
        received_at_ms: int,
        now_ms: int,
        reason: str | None = None,
        quantity: int = 1,
        category: str | None = None,
    ) -> Produce:
        """``quantity`` and ``category`` (Sentry's data category, None for an error event) are
        for records that count several items at once, as client reports do."""
        record = {
            "event_id": event_id,
            "project_id": project_id,
            "outcome": kind,
            "reason": reason,
            "stage": self.stage,
            "received_at_ms": received_at_ms,
            "timestamp_ms": now_ms,
            "quantity": quantity,
            "category": category,
        }
        return Produce(
            self.topic,
            self.codec.encode(OUTCOME_SCHEMA, record, self.topic),
            key=str(project_id).encode(),
            headers=[*received_at_headers(received_at_ms), (OUTCOME_HEADER, kind.encode())],
        )


def failure_reason(error: str) -> str:
    """The outcome reason for the runtime's ``"<ExceptionClass>: <message>"`` failure text."""
    return _REASONS.get(error.partition(":")[0], PROCESSING_FAILED)


class InvalidOutcomes:
    """The runtime's ``on_invalid``: an ``invalid`` outcome for each dead-lettered message.

    Ids come from the message value when it still decodes as ``input_schema`` (it failed later,
    say the database refused it); otherwise the key is the event id and the project is 0,
    because bytes that cannot be read name no project.
    """

    def __init__(
        self, outcomes: Outcomes, input_schema: str, clock: Callable[[], int] = wall_ms
    ) -> None:
        self._outcomes = outcomes
        self._schema = input_schema
        self._clock = clock

    def __call__(self, msg: InputMessage, error: str) -> list[Produce]:
        record = self._decoded(msg)
        if record is not None:
            event_id = str(record.get("event_id") or "")
            project_id = int(record.get("project_id") or 0)
            received_at_ms = int(record.get("received_at_ms") or _received_at(msg))
        else:
            event_id = (msg.key or b"").decode("utf-8", "replace")[:64]
            project_id, received_at_ms = 0, _received_at(msg)
        outcome = self._outcomes.produce(
            "invalid",
            event_id=event_id,
            project_id=project_id,
            received_at_ms=received_at_ms,
            now_ms=self._clock(),
            reason=failure_reason(error),
        )
        return [outcome]

    def _decoded(self, msg: InputMessage) -> dict[str, Any] | None:
        if msg.value is None:
            return None
        try:
            return self._outcomes.codec.decode(self._schema, msg.value, msg.topic)
        except Exception:  # best effort: a codec failing here must not stop the consumer loop
            return None


def _received_at(msg: InputMessage) -> int:
    """The runtime's receive time of the message; negative means it did not know one."""
    return msg.received_at_ms if msg.received_at_ms >= 0 else msg.timestamp_ms
