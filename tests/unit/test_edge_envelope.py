"""Envelope and store bodies: what is an event, what is skipped, what is a 400."""

from __future__ import annotations

import json

import pytest

from pipeline.edge.envelope import InvalidEnvelope, parse_envelope
from pipeline.edge.ingest import parse_envelope_body, parse_store

EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"


def envelope(*items: tuple[dict[str, object], bytes], header: bytes | None = None) -> bytes:
    lines = [header or json.dumps({"event_id": EVENT_ID}).encode()]
    for item_header, payload in items:
        lines += [json.dumps(item_header).encode(), payload]
    return b"\n".join(lines) + b"\n"


def test_items_with_and_without_length_are_read() -> None:
    event = json.dumps({"message": "a\nb"}).encode()  # JSON escapes the newline
    attachment = b"line one\nline two"
    body = envelope(
        ({"type": "event", "length": len(event)}, event),
        ({"type": "attachment", "length": len(attachment)}, attachment),
        ({"type": "session"}, b'{"sid": "x"}'),
    )
    parsed = parse_envelope(body)
    assert [item.type for item in parsed.items] == ["event", "attachment", "session"]
    assert parsed.items[1].payload == attachment
    assert parsed.event_id == EVENT_ID


def test_event_items_are_kept_other_types_skipped_client_reports_counted() -> None:
    body = envelope(
        ({"type": "event"}, b'{"level": "error"}'),
        ({"type": "transaction"}, b"{}"),
        ({"type": "client_report"}, b'{"discarded_events": []}'),
    )
    parsed = parse_envelope_body(body, max_event_bytes=1000)
    assert [e.event_id for e in parsed.events] == [EVENT_ID]  # from the envelope header
    assert parsed.skipped == ["transaction"]
    assert parsed.client_reports == [b'{"discarded_events": []}']


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json\n", "envelope header is not valid JSON"),
        (b"[1]\n", "not a JSON object"),
        (b'{}\n{"length": 2}\n{}\n', "has no type"),
        (b'{}\n{"type": "event", "length": 50}\n{}\n', "shorter than its length"),
        (b'{}\n{"type": "event", "length": -1}\n{}\n', "invalid length"),
        (
            b'{}\n{"type": "event"}\n' + b"[" * 10_000 + b"]" * 10_000 + b"\n",
            "event is not valid JSON",
        ),
        (b'{}\n{"type": "event"}\n' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "not valid JSON"),
    ],
)
def test_invalid_envelopes_name_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidEnvelope, match=reason):
        parse_envelope_body(body, max_event_bytes=1_000_000)


def test_too_many_items_and_too_large_events_are_refused() -> None:
    session: tuple[dict[str, object], bytes] = ({"type": "session"}, b"{}")
    many = envelope(*[session] * 101)
    with pytest.raises(InvalidEnvelope, match="more than 100 items"):
        parse_envelope(many)
    with pytest.raises(InvalidEnvelope, match="larger than 10"):
        parse_store(b'{"message": "0123456789"}', max_event_bytes=10)


def test_store_event_id_is_normalized_and_checked() -> None:
    dashed = "9ec79c33-ec99-42ab-8353-589fcb2e04dc"
    assert parse_store(json.dumps({"event_id": dashed}).encode(), 1000).events[0].event_id == (
        EVENT_ID
    )
    with pytest.raises(InvalidEnvelope, match="32 hex"):
        parse_store(b'{"event_id": "../../etc"}', 1000)
