"""Normalize's mark that lets symbolicate pass an event on undecoded, and the store's reading of
the stage times such a pass records."""

from __future__ import annotations

from typing import Any

from pipeline.stages.passthrough import (
    MINIFIED_FRAMES_HEADER,
    minified_frames_header,
    stage_time_header,
    stage_times_in,
)
from tests.support.pipeline import demo_scenarios, js_payload, processed_event

RECEIVED_MS = 1_760_000_000_000


def mark(payload: dict[str, Any]) -> bytes:
    name, value = minified_frames_header(processed_event(3, payload, RECEIVED_MS))
    assert name == MINIFIED_FRAMES_HEADER
    return value


def test_minified_javascript_frames_are_marked_for_mapping() -> None:
    assert mark(js_payload(demo_scenarios()[0], "shop@1.0.0")) == b"1"


def test_messages_python_frames_and_runtime_frames_are_marked_as_nothing_to_map() -> None:
    python_frame = {"filename": "app.py", "function": "run", "lineno": 3}
    runtime_frame = {"abs_path": "node:internal/timers", "lineno": 5, "colno": 9}
    assert mark({"message": "disk full"}) == b"0"
    assert mark(exception_with(python_frame, platform="python")) == b"0"
    assert mark(exception_with(runtime_frame, platform="node")) == b"0"


def test_frames_already_mapped_are_not_mapped_again() -> None:
    event = processed_event(3, js_payload(demo_scenarios()[0], "shop@1.0.0"), RECEIVED_MS)
    for exception in event["exceptions"]:
        for frame in exception["frames"]:
            frame["symbolication"] = "ok"
    assert minified_frames_header(event) == (MINIFIED_FRAMES_HEADER, b"0")


def test_stage_times_come_from_their_headers_and_a_malformed_one_is_left_out() -> None:
    headers = [
        ("received_at_ms", b"1"),
        stage_time_header("symbolicate", 1_760_000_000_031),
        ("stage_time_ms.other", b"soon"),
    ]
    assert stage_times_in(headers) == {"symbolicate": 1_760_000_000_031}


def exception_with(frame: dict[str, Any], platform: str) -> dict[str, Any]:
    return {
        "platform": platform,
        "exception": {
            "values": [{"type": "Error", "value": "x", "stacktrace": {"frames": [frame]}}]
        },
    }
