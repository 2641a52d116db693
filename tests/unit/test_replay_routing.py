"""Where replayed records go: plain copies keep everything, DLQ records lose only dlq.*; every
replayed record is marked, so cohort counts tell it from a first pass."""

from __future__ import annotations

from pipeline.cohorts.counts import REPLAYED_HEADER
from pipeline.replay.routing import BackFromDlq, CopyTo, Routed, Skip, strip_dlq_headers
from pipeline.runtime.dead_letter import dead_letter_record
from pipeline.runtime.messages import RECEIVED_AT_HEADER, InputMessage

ORIGINAL_HEADERS = [(RECEIVED_AT_HEADER, b"1700000000000"), ("trace", b"abc")]
MARK = (REPLAYED_HEADER, b"1")


def dlq_headers(
    stage: str = "normalize", error: str = "ValueError: bad payload"
) -> list[tuple[str, bytes | None]]:
    msg = InputMessage(
        topic="events.raw",
        partition=2,
        offset=41,
        key=b"k",
        value=b"v",
        timestamp_ms=0,
        headers=ORIGINAL_HEADERS,
    )
    record = dead_letter_record(msg, "events.raw.dlq", stage, error, attempts=3, now_ms=5)
    return list(record.headers)


def test_dlq_records_go_back_to_their_origin_without_dlq_headers() -> None:
    routed = BackFromDlq()(dlq_headers())
    assert routed == Routed("events.raw", [*ORIGINAL_HEADERS, MARK])


def test_an_explicit_target_wins_over_the_origin_header() -> None:
    routed = BackFromDlq(target="events.raw.retry")(dlq_headers())
    assert isinstance(routed, Routed)
    assert routed.topic == "events.raw.retry"


def test_records_without_dlq_headers_are_skipped() -> None:
    assert BackFromDlq()(ORIGINAL_HEADERS) is Skip.NOT_A_DLQ_RECORD
    assert BackFromDlq()([]) is Skip.NOT_A_DLQ_RECORD


def test_stage_and_error_filters() -> None:
    headers = dlq_headers(stage="symbolicate", error="TimeoutError: fetch took 30s")
    assert BackFromDlq(stages=frozenset({"normalize"}))(headers) is Skip.OTHER_STAGE
    assert isinstance(BackFromDlq(stages=frozenset({"normalize", "symbolicate"}))(headers), Routed)
    assert BackFromDlq(error_contains="valueerror")(headers) is Skip.OTHER_ERROR
    assert isinstance(BackFromDlq(error_contains="timeouterror")(headers), Routed)


def test_a_plain_copy_keeps_every_header() -> None:
    headers = dlq_headers()
    assert CopyTo("elsewhere")(headers) == Routed("elsewhere", [*headers, MARK])
    assert CopyTo("elsewhere").fixed_target == "elsewhere"
    assert BackFromDlq().fixed_target is None


def test_stripping_keeps_order_and_other_headers() -> None:
    headers = [("a", b"1"), ("dlq.stage", b"x"), ("b", None), ("dlq.error", b"y")]
    assert strip_dlq_headers(headers) == [("a", b"1"), ("b", None)]


def test_a_record_replayed_twice_is_marked_once() -> None:
    once = CopyTo("t")(ORIGINAL_HEADERS)
    assert isinstance(once, Routed)
    twice = CopyTo("t")(once.headers)
    assert isinstance(twice, Routed)
    assert [h for h in twice.headers if h[0] == REPLAYED_HEADER] == [MARK]
