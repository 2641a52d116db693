"""Times on the command line: ISO 8601 or relative to now (``-2h``), as epoch milliseconds."""

from __future__ import annotations

import re
from datetime import datetime

from pipeline.adapters.kafka.topics.durations import parse_duration_ms
from pipeline.errors import UserError

TIME_HELP = (
    "ISO 8601 (2024-05-01T12:00 in local time, or with Z / +02:00), "
    "relative to now (-2h, -1h30m, -15m, -500ms), or 'now'"
)
_RELATIVE = re.compile(r"-((?:\d+(?:ms|s|m|h|d|w))+)")


def parse_time_ms(text: str, now_ms: int) -> int:
    """Milliseconds since the epoch for ``text``; relative times count back from ``now_ms``."""
    value = text.strip()
    if value.lower() == "now":
        return now_ms
    if relative := _RELATIVE.fullmatch(value.lower()):
        return now_ms - parse_duration_ms(relative.group(1))
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        raise UserError(f"cannot read the time {text!r}; use {TIME_HELP}") from None
