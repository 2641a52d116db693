"""Event id, timestamp, defaults and the wrong-type policy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pipeline.stages.normalize import NormalizeSettings
from tests.unit.test_normalize_schema import NOW_MS, details, invalid, kinds, normalized

HEX = "0123456789abcdef0123456789abcdef"
UUID = "01234567-89AB-CDEF-0123-456789ABCDEF"
DAY_S = 24 * 3600


@pytest.mark.parametrize(
    ("edge", "sent", "expected", "errors"),
    [
        (HEX, None, HEX, []),
        (HEX.upper(), None, HEX, []),
        (UUID, None, HEX, []),
        ("", HEX, HEX, []),
        ("", UUID, HEX, []),
        (HEX, "ffffffffffffffffffffffffffffffff", HEX, []),  # the edge's id wins
        ("not-an-id", HEX, HEX, ["invalid_event_id"]),
        ("", 1234, None, ["invalid_event_id"]),
        ("", "xyz", None, ["invalid_event_id"]),
        ("0" * 32, None, None, ["invalid_event_id"]),  # the nil UUID is no id
        ("", "", None, []),
        ("", None, None, []),
    ],
)
def test_event_id(edge: str, sent: Any, expected: str | None, errors: list[str]) -> None:
    payload = {"message": "m"} if sent is None else {"message": "m", "event_id": sent}
    event = normalized(payload, event_id=edge)
    assert re.fullmatch("[0-9a-f]{32}", event["event_id"])
    if expected is not None:
        assert event["event_id"] == expected
    assert kinds(event) == errors


def test_generated_event_ids_differ() -> None:
    assert normalized({})["event_id"] != normalized({})["event_id"]


@pytest.mark.parametrize(
    ("timestamp", "expected_ms", "errors"),
    [
        (None, NOW_MS, []),
        (NOW_MS / 1000 - 10.5, NOW_MS - 10_500, []),
        (NOW_MS // 1000 - 10, NOW_MS - 10_000, []),
        (str(NOW_MS / 1000 - 1.25), NOW_MS - 1250, []),
        ("2023-11-14T22:13:10Z", NOW_MS - 10_000, []),
        ("2023-11-14T22:13:10.5+00:00", NOW_MS - 9_500, []),
        ("2023-11-15T00:13:10+02:00", NOW_MS - 10_000, []),
        ("2023-11-14T22:13:10", NOW_MS - 10_000, []),  # naive means UTC
        (NOW_MS / 1000 + 59, NOW_MS + 59_000, []),
        (NOW_MS / 1000 + 61, NOW_MS, ["clock_drift"]),
        (NOW_MS / 1000 - 29 * DAY_S, NOW_MS - 29 * DAY_S * 1000, []),
        (NOW_MS / 1000 - 31 * DAY_S, NOW_MS, ["past_timestamp"]),
        (1e300, NOW_MS, ["clock_drift"]),
        (-(10**40), NOW_MS, ["past_timestamp"]),
        ("yesterday", NOW_MS, ["invalid_timestamp"]),
        ("", NOW_MS, ["invalid_timestamp"]),
        ("nan", NOW_MS, ["invalid_timestamp"]),
        (True, NOW_MS, ["invalid_timestamp"]),
        ([1], NOW_MS, ["invalid_timestamp"]),
    ],
)
def test_timestamp(timestamp: Any, expected_ms: int, errors: list[str]) -> None:
    payload: dict[str, Any] = {"message": "m"}
    if timestamp is not None:
        payload["timestamp"] = timestamp
    event = normalized(payload)
    assert event["timestamp_ms"] == expected_ms
    assert event["received_at_ms"] == NOW_MS
    assert kinds(event) == errors


def test_timestamp_limits_are_configurable() -> None:
    strict = NormalizeSettings(max_future_s=0, max_past_s=60)
    assert kinds(normalized({"timestamp": NOW_MS / 1000 + 1}, strict)) == ["clock_drift"]
    assert kinds(normalized({"timestamp": NOW_MS / 1000 - 61}, strict)) == ["past_timestamp"]
    assert normalized({"timestamp": NOW_MS / 1000 - 59}, strict)["timestamp_ms"] == NOW_MS - 59_000


@pytest.mark.parametrize(
    ("payload", "field", "value", "errors"),
    [
        ({}, "platform", "other", []),
        ({"platform": "Python"}, "platform", "python", []),
        ({"platform": ""}, "platform", "other", []),
        ({"platform": 3}, "platform", "other", ["bad_type"]),
        ({}, "level", "error", []),
        ({"level": "WARNING"}, "level", "warning", []),
        ({"level": "warn"}, "level", "warning", []),
        ({"level": "critical"}, "level", "fatal", []),
        ({"level": "debug"}, "level", "debug", []),
        ({"level": "verbose"}, "level", "error", ["invalid_level"]),
        ({"level": 30}, "level", "error", ["bad_type"]),
        ({"message": "m"}, "event_type", "default", []),
        ({"exception": [{"type": "E"}]}, "event_type", "error", []),
        ({"release": " 1.0 "}, "release", "1.0", []),
        ({"release": ""}, "release", None, []),
        ({"release": 1.5}, "release", None, ["bad_type"]),
        ({"environment": "prod"}, "environment", "prod", []),
        ({"dist": "42"}, "dist", "42", []),
        ({"dist": ["42"]}, "dist", None, ["bad_type"]),
        ({"sdk": "x"}, "sdk_name", None, ["bad_type"]),
        ({"sdk": {"name": 1, "version": "1.0"}}, "sdk_name", None, ["bad_type"]),
        ({"sdk": {"name": "s", "version": "1.0"}}, "sdk_version", "1.0", []),
        ({"release": "r" * 300}, "release", "r" * 197 + "...", ["value_too_long"]),
    ],
)
def test_attributes(payload: dict[str, Any], field: str, value: Any, errors: list[str]) -> None:
    event = normalized(payload)
    assert event[field] == value
    assert kinds(event) == errors


def test_the_default_platform_is_configurable() -> None:
    assert normalized({}, NormalizeSettings(default_platform="native"))["platform"] == "native"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"message": "plain"}, "plain"),
        ({"message": {"formatted": "User bob", "message": "User %s"}}, "User bob"),
        ({"message": {"message": "User %s", "params": ["bob"]}}, "User %s"),
        ({"logentry": {"formatted": "from logentry"}, "message": "ignored"}, "from logentry"),
        ({"logentry": {}, "message": "fallback"}, "fallback"),
    ],
)
def test_message_forms(payload: dict[str, Any], message: str) -> None:
    assert normalized(payload)["message"] == message


# The policy: a wrong-typed known field is dropped with a bad_type error naming it; the event is
# Invalid only when its exception/logentry/message was unusable and nothing else says what it is.
@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"message": "m", "exception": "boom"}, "exception"),
        ({"message": "m", "exception": {"values": "boom"}}, "exception"),
        ({"message": "m", "tags": 5}, "tags"),
        ({"message": "m", "fingerprint": "abc"}, "fingerprint"),
        ({"message": "m", "debug_meta": []}, "debug_meta"),
        ({"exception": "boom", "logentry": {"formatted": "ok"}}, "exception"),
        ({"exception": [{"type": "E"}], "message": 42}, "message"),
        ({"exception": [5, {"type": "E"}]}, "exception[0]"),
        ({"exception": [{"type": "E", "value": 1}]}, "exception[0].value"),
        ({"exception": [{"type": "E", "stacktrace": "x"}]}, "exception[0].stacktrace"),
        ({"exception": [{"type": "E", "stacktrace": {"frames": ["f"]}}]}, "frames[0]"),
        ({"exception": [{"type": "E", "stacktrace": {"frames": [{"lineno": "12"}]}}]}, "lineno"),
        ({"exception": [{"type": "E", "stacktrace": {"frames": [{"lineno": True}]}}]}, "lineno"),
        ({"exception": [{"type": "E", "stacktrace": {"frames": [{"in_app": "y"}]}}]}, "in_app"),
        (
            {"exception": [{"type": "E", "stacktrace": {"frames": [{"pre_context": "x"}]}}]},
            "pre_context",
        ),
    ],
)
def test_wrong_types_are_dropped_with_an_error(payload: dict[str, Any], path: str) -> None:
    event = normalized(payload)
    assert any(path in d for d in details(event, "bad_type")), event["errors"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"exception": "boom"}, "bad_type:exception"),
        ({"exception": {"values": [1, 2]}}, "bad_type:exception"),
        ({"exception": [{}]}, "bad_type:exception"),
        ({"message": 42}, "bad_type:message"),
        ({"message": {"params": [1]}}, "bad_type:message"),
        ({"logentry": ["x"]}, "bad_type:logentry"),
    ],
)
def test_events_left_without_content_are_invalid(payload: dict[str, Any], reason: str) -> None:
    result = invalid(payload)
    assert result.reason == reason
    assert result.event_id


@pytest.mark.parametrize("payload", [{}, {"exception": {"values": []}}, {"exception": None}])
def test_events_that_sent_no_content_are_valid(payload: dict[str, Any]) -> None:
    event = normalized(payload)
    assert (event["message"], event["exceptions"], event["errors"]) == ("", [], [])


def test_errors_are_bounded() -> None:
    payload = {"message": "m", "tags": [[f"k{i}", {}] for i in range(100)]}
    event = normalized(payload, NormalizeSettings(max_errors=5))
    assert kinds(event) == ["bad_type"] * 5 + ["too_many_errors"]
