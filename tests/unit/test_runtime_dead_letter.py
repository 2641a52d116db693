"""dead_letter_record: the original record plus the `dlq.*` headers replay reads back."""

from __future__ import annotations

from pipeline.runtime.dead_letter import dead_letter_record
from pipeline.runtime.messages import InputMessage


def message(headers: list[tuple[str, bytes]]) -> InputMessage:
    return InputMessage("events.raw", 2, 41, b"key-1", b"\x00payload", 1_700_000_000_000, headers)


def test_the_record_keeps_key_value_and_headers_and_says_why() -> None:
    record = dead_letter_record(
        message([("received_at_ms", b"123")]), "events.raw.dlq", "normalize", "boom", 3, 99
    )
    assert (record.topic, record.key, record.value) == ("events.raw.dlq", b"key-1", b"\x00payload")
    assert list(record.headers) == [
        ("received_at_ms", b"123"),
        ("dlq.origin.topic", b"events.raw"),
        ("dlq.origin.partition", b"2"),
        ("dlq.origin.offset", b"41"),
        ("dlq.stage", b"normalize"),
        ("dlq.error", b"boom"),
        ("dlq.attempts", b"3"),
        ("dlq.time_ms", b"99"),
    ]


def test_a_replayed_message_that_fails_again_carries_only_the_new_dlq_headers() -> None:
    old = [("dlq.origin.offset", b"5"), ("dlq.error", b"old"), ("trace", b"t")]
    headers = dict(dead_letter_record(message(old), "d", "store", "new", 1, 1).headers)
    assert headers["dlq.origin.offset"] == b"41"
    assert headers["dlq.error"] == b"new"
    assert headers["trace"] == b"t"
    assert len(dead_letter_record(message(old), "d", "store", "new", 1, 1).headers) == 8


def test_a_long_or_non_ascii_error_is_cut_and_encoded() -> None:
    headers = dict(dead_letter_record(message([]), "d", "s", "é" * 5000, 1, 1).headers)
    assert headers["dlq.error"] == ("é" * 1000).encode()
