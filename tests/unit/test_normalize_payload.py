"""Hostile payloads: each ends as Invalid with a reason, or as a valid event with an error."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pipeline.stages.normalize import Invalid, NormalizeSettings, normalize_event
from pipeline.stages.normalize.payload import max_nesting
from tests.unit.test_normalize_schema import NOW_MS, invalid, kinds, normalized, raw_event


def _nested(depth: int) -> bytes:
    """An object holding arrays so that the total nesting is ``depth``."""
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not_json"),
        (b"", "not_json"),
        (b"{", "not_json"),
        (b'{"a": 1} trailing', "not_json"),
        (b"\x00", "not_json"),
        (b'{"message": "a\x00b"}', "not_json"),  # raw control characters are not JSON
        (b"[1, 2]", "not_an_object"),
        (b'"a string"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"1e999", "not_an_object"),
        (b'{"message": "\xff\xfe"}', "invalid_utf8"),
        (b'{"message": "\xed\xa0\x80"}', "invalid_utf8"),  # an encoded surrogate
        (b"[" * 10_000 + b"]" * 10_000, "too_deep"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "too_deep"),
        (b"[" * 100_000, "not_json"),
        (b"[[]]]", "not_json"),
        (b"{[}]", "not_json"),
        (_nested(65), "too_deep"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "not_json"),  # beyond Python's int digit limit
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, bytes) else v,
)
def test_hostile_payloads_are_invalid(payload: bytes, reason: str) -> None:
    assert invalid(payload).reason == reason


def test_too_large_is_rejected_before_parsing() -> None:
    payload = b'{"message": "' + b"x" * 10_000_000 + b'"}'
    started = time.perf_counter()
    result = invalid(payload)
    assert time.perf_counter() - started < 0.05
    assert result.reason == "too_large"


@pytest.mark.parametrize(("limit", "size", "ok"), [(2048, 2048, True), (2048, 2049, False)])
def test_the_size_limit_is_configurable(limit: int, size: int, ok: bool) -> None:
    head = b'{"message": "'
    payload = head + b"x" * (size - len(head) - 2) + b'"}'
    result = normalize_event(raw_event(payload), NormalizeSettings(max_payload_bytes=limit), NOW_MS)
    assert isinstance(result, Invalid) is not ok


def test_depth_limit_is_inclusive_and_configurable() -> None:
    normalized(_nested(64))
    assert invalid(_nested(6), NormalizeSettings(max_depth=5)).reason == "too_deep"
    normalized(_nested(5), NormalizeSettings(max_depth=5))


@pytest.mark.parametrize(
    "payload",
    [
        {"message": "[" * 500 + "{" * 500},
        {"message": 'quote \\" then [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['},
        {"message": "\\" * 9 + '"' + "[" * 100},
        {"extra": {"[" * 100: "]" * 100}},
    ],
)
def test_brackets_inside_strings_do_not_count_as_nesting(payload: dict[str, Any]) -> None:
    normalized(payload)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": [[]]}]}', 5),
        ('{"a": "[[[", "b": ["]]]"]}', 2),
        ('{"a": "\\\\", "b": [[]]}', 3),
        ('{"a": "\\"[[", "b": [[]]}', 3),
    ],
)
def test_max_nesting_is_exact_for_valid_json(text: str, depth: int) -> None:
    assert max_nesting(text.encode(), limit=10) == depth
    assert max_nesting(text.encode(), limit=depth - 1) == depth


def test_a_megabyte_of_brackets_is_rejected_quickly() -> None:
    payload = (b"[" * 63 + b"]" * 63) * (1_000_000 // 126)  # 64 deep inside the object
    started = time.perf_counter()
    assert invalid(b'{"a":' + payload + b"}").reason == "not_json"  # arrays without commas
    assert invalid(b"[" * 500_000 + b"]" * 500_000).reason == "too_deep"
    assert invalid(b"[" * 1_000_000).reason == "not_json"
    assert time.perf_counter() - started < 1.0


def test_a_byte_order_mark_is_accepted() -> None:
    assert normalized(b'\xef\xbb\xbf{"message": "hi"}')["message"] == "hi"


def test_null_characters_inside_strings_survive() -> None:
    event = normalized(b'{"message": "a\\u0000b", "extra": {"k\\u0000": "\\u0000"}}')
    assert event["message"] == "a\x00b"
    assert json.loads(event["extra_json"]) == {"extra": {"k\x00": "\x00"}}


@pytest.mark.parametrize(
    "payload",
    [
        b'{"message": "m", "extra": {"a": NaN, "b": Infinity, "c": -Infinity}}',
        b'{"message": "m", "extra": {"a": 1e999, "b": -1e999, "c": [1e400]}}',
    ],
)
def test_non_finite_numbers_become_null(payload: bytes) -> None:
    event = normalized(payload)
    extra = json.loads(event["extra_json"])["extra"]
    assert None in extra.values() or extra["c"] == [None]
    assert all(v is None or v == [None] for v in extra.values())
    assert "non_finite_number" in kinds(event)


def test_huge_integers_stay_in_extra_and_leave_typed_fields() -> None:
    big = 10**100
    frame = {"function": "f", "lineno": big, "colno": -1}
    payload = {"exception": [{"type": "E", "stacktrace": {"frames": [frame]}}], "extra": {"n": big}}
    event = normalized(payload)
    assert json.loads(event["extra_json"])["extra"]["n"] == big
    located = event["exceptions"][0]["frames"][0]
    assert (located["lineno"], located["colno"]) == (None, None)
    assert kinds(event).count("invalid_value") == 2


def test_lone_surrogates_are_replaced() -> None:
    event = normalized(b'{"message": "a\\ud800b", "extra": {"\\udfff": "\\udc00"}}')
    assert event["message"] == "a\ufffdb"
    assert json.loads(event["extra_json"]) == {"extra": {"\ufffd": "\ufffd"}}
    assert "invalid_unicode" in kinds(event)


def test_surrogate_pairs_are_kept() -> None:
    assert normalized(b'{"message": "\\ud83d\\ude00"}')["message"] == "\U0001f600"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"payload": "{}"}, "bad_record"),
        ({"payload": None}, "bad_record"),
        ({"project_id": "42"}, "bad_record"),
        ({"project_id": True}, "bad_record"),
        ({"received_at_ms": None}, "bad_record"),
        ({"received_at_ms": 2**64}, "bad_record"),
    ],
)
def test_malformed_records_are_invalid(raw: dict[str, Any], reason: str) -> None:
    record = {**raw_event({"message": "m"}), **raw}
    result = normalize_event(record, NormalizeSettings(), NOW_MS)
    assert isinstance(result, Invalid)
    assert result.reason == reason


def test_an_empty_record_is_invalid() -> None:
    result = normalize_event({}, NormalizeSettings(), NOW_MS)
    assert isinstance(result, Invalid)
    assert (result.reason, result.event_id, result.project_id) == ("bad_record", "", 0)


def test_memoryview_and_bytearray_payloads_are_accepted() -> None:
    for body in (memoryview(b'{"message": "m"}'), bytearray(b'{"message": "m"}')):
        record = {**raw_event({}), "payload": body}
        result = normalize_event(record, NormalizeSettings(), NOW_MS)
        assert not isinstance(result, Invalid)


def test_invalid_results_carry_what_an_outcome_needs() -> None:
    record = raw_event(b"nope", event_id="ABCDEF0123456789ABCDEF0123456789", project_id=7)
    result = normalize_event(record, NormalizeSettings(), NOW_MS)
    assert isinstance(result, Invalid)
    assert (result.event_id, result.project_id, result.received_at_ms) == (
        "abcdef0123456789abcdef0123456789",
        7,
        NOW_MS,
    )
    assert result.detail


@pytest.mark.parametrize(
    "extra", [{"f": 1e-7, "g": 0.00001}, {"n": 0.5, "text": "café", "list": [1, "ü"]}]
)
def test_extra_json_is_byte_for_byte_what_json_writes(extra: dict[str, Any]) -> None:
    """orjson writes small floats differently (1e-7, not 1e-07): stored bytes must not change."""
    event = normalized({"message": "m", "extra": extra})
    expected = json.dumps({"extra": extra}, ensure_ascii=False, separators=(",", ":"))
    assert event["extra_json"] == expected
