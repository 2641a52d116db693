"""When the error happened: the SDK's timestamp, unless it is missing, unreadable or implausible.

Accepted forms: epoch seconds (number, or a string of one) and ISO 8601 (naive means UTC). Out of
range (more than ``max_future_s`` ahead of or ``max_past_s`` behind the receive time) falls back to
the receive time with a ``clock_drift`` / ``past_timestamp`` error.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pipeline.stages.normalize.results import ErrorLog

# Far beyond any clamp window, and small enough for float() of a huge JSON integer.
_LIMIT_S = 10**15


def event_timestamp_ms(
    value: Any, received_at_ms: int, max_future_s: float, max_past_s: float, errors: ErrorLog
) -> int:
    """The event's time in epoch milliseconds, clamped to plausible values."""
    if value is None:
        return received_at_ms
    seconds = _epoch_seconds(value)
    if seconds is None:
        errors.add("invalid_timestamp", repr(value)[:64])
        return received_at_ms
    offset_s = seconds - received_at_ms / 1000
    if offset_s > max_future_s:
        errors.add("clock_drift", f"{offset_s:.0f} s in the future")
        return received_at_ms
    if -offset_s > max_past_s:
        errors.add("past_timestamp", f"{-offset_s:.0f} s in the past")
        return received_at_ms
    return round(seconds * 1000)


def _epoch_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(max(-_LIMIT_S, min(value, _LIMIT_S)))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _parse_string(value.strip())
    return None


def _parse_string(text: str) -> float | None:
    if not text or len(text) > 64:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
