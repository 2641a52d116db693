"""How symbolicate passes on, without decoding it, an event it has nothing to map in.

Most events carry no minified JavaScript frame (Python errors, messages, Node frames of the
runtime itself), and for those symbolicate's decode, regrouping and re-encode changed nothing
but its own stage time. Normalize, which has the frames in hand, says in a header whether any
frame wants mapping; symbolicate forwards a record marked "none" byte for byte and records its
stage time in a header of its own, which the store folds into ``stage_times_ms``. A record
without the mark (an older normalize, another producer) is decoded as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.runtime.messages import Headers, InputMessage
from pipeline.stages.js_runtime_paths import has_no_source_map

MINIFIED_FRAMES_HEADER = "minified_frames"
"""b"1" if some frame wants mapping, b"0" if none does."""
STAGE_TIME_HEADER_PREFIX = "stage_time_ms."
"""Followed by a stage name: when that stage finished an event it did not decode."""


def wants_mapping(frame: Mapping[str, Any]) -> bool:
    """A minified location not yet handled; a replayed event is never mapped twice."""
    return (
        isinstance(frame.get("abs_path"), str)
        and bool(frame["abs_path"])
        and not has_no_source_map(frame["abs_path"])
        and isinstance(frame.get("lineno"), int)
        and isinstance(frame.get("colno"), int)
        and frame.get("symbolication") is None
        and frame.get("minified") is None
    )


def has_minified_frames(event: Mapping[str, Any]) -> bool:
    return any(
        wants_mapping(frame)
        for exception in event.get("exceptions") or ()
        for frame in exception.get("frames") or ()
    )


def minified_frames_header(event: Mapping[str, Any]) -> tuple[str, bytes]:
    return MINIFIED_FRAMES_HEADER, b"1" if has_minified_frames(event) else b"0"


def nothing_to_map(msg: InputMessage) -> bool:
    """Only an explicit "none" counts: an unmarked record may have frames to map."""
    return msg.header(MINIFIED_FRAMES_HEADER) == b"0"


def stage_time_header(stage: str, at_ms: int) -> tuple[str, bytes]:
    return STAGE_TIME_HEADER_PREFIX + stage, str(at_ms).encode()


def stage_times_in(headers: Headers) -> dict[str, int]:
    """Stage times recorded in headers; a malformed one is left out, never fatal."""
    times = {}
    for name, value in headers:
        if name.startswith(STAGE_TIME_HEADER_PREFIX):
            try:
                times[name.removeprefix(STAGE_TIME_HEADER_PREFIX)] = int(value)
            except (TypeError, ValueError):
                continue
    return times
