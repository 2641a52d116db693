"""From an authenticated, decompressed body to the records the edge produces.

Pure: no I/O, so every rule (what is an event, what is dropped, which outcome) is tested fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pipeline.adapters.kafka.codec import Codec
from pipeline.edge.envelope import InvalidEnvelope, parse_envelope, parse_json_object
from pipeline.edge.filters import EventFilter
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import OutcomeKind, Outcomes, received_at_headers

EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
EVENT_ITEMS = ("event",)
CLIENT_REPORT = "client_report"


@dataclass(frozen=True)
class RawEvent:
    event_id: str
    payload: bytes
    event: dict[str, Any]


@dataclass
class Parsed:
    events: list[RawEvent] = field(default_factory=list)
    client_reports: list[bytes] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Item types this edge does not ingest (transaction, attachment, session, ...)."""


def parse_store(body: bytes, max_event_bytes: int) -> Parsed:
    """The legacy ``/store/`` body: one event as JSON."""
    return Parsed(events=[_event(body, None, max_event_bytes)])


def parse_envelope_body(body: bytes, max_event_bytes: int) -> Parsed:
    envelope = parse_envelope(body)
    parsed = Parsed()
    for item in envelope.items:
        if item.type in EVENT_ITEMS:
            parsed.events.append(_event(item.payload, envelope.event_id, max_event_bytes))
        elif item.type == CLIENT_REPORT:
            parsed.client_reports.append(item.payload)
        else:
            parsed.skipped.append(item.type)
    return parsed


def _event(payload: bytes, header_id: str | None, max_bytes: int) -> RawEvent:
    if len(payload) > max_bytes:
        raise InvalidEnvelope(f"event of {len(payload)} bytes is larger than {max_bytes}")
    event = parse_json_object(payload, "event")
    raw_id = event.get("event_id") or header_id or ""
    event_id = raw_id.replace("-", "").lower() if isinstance(raw_id, str) else ""
    if event_id and not EVENT_ID.match(event_id):
        raise InvalidEnvelope("event_id is not 32 hex characters")
    return RawEvent(event_id, payload, event)


@dataclass(frozen=True)
class Records:
    events: list[Produce]
    outcomes: list[Produce]


class EventRecords:
    """Turns accepted events into events.raw records, and dropped ones into outcomes."""

    def __init__(
        self, codec: Codec, raw_topic: str, outcomes: Outcomes, event_filter: EventFilter
    ) -> None:
        self._codec, self._topic = codec, raw_topic
        self._outcomes, self._filter = outcomes, event_filter

    def build(
        self,
        events: list[RawEvent],
        project_id: int,
        received_at_ms: int,
        remote_addr: str | None,
        content_type: str | None,
    ) -> Records:
        records = Records([], [])
        for raw in events:
            reason = self._filter.reason(raw.event, received_at_ms)
            if reason is not None:
                records.outcomes.append(
                    self.outcome("filtered", raw.event_id, project_id, received_at_ms, reason)
                )
                continue
            value = {
                "event_id": raw.event_id,
                "project_id": project_id,
                "received_at_ms": received_at_ms,
                "payload": raw.payload,
                "remote_addr": remote_addr,
                "content_type": content_type,
            }
            records.events.append(
                Produce(
                    self._topic,
                    self._codec.encode("raw_event", value, self._topic),
                    key=raw.event_id.encode() or None,
                    headers=received_at_headers(received_at_ms),
                )
            )
        return records

    def outcome(
        self, kind: OutcomeKind, event_id: str, project_id: int, received_at_ms: int, reason: str
    ) -> Produce:
        return self._outcomes.produce(
            kind,
            event_id=event_id,
            project_id=project_id,
            received_at_ms=received_at_ms,
            now_ms=received_at_ms,
            reason=reason,
        )
