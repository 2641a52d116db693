"""Human-friendly durations (``7d``, ``12h``, ``1h30m``) as the milliseconds Kafka configs use."""

from __future__ import annotations

import re

UNLIMITED_MS = -1
_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_PART = r"(\d+)(ms|s|m|h|d|w)"
_DURATION = re.compile(rf"(?:{_PART})+")
_UNLIMITED_WORDS = {"forever", "unlimited", "infinite"}


def parse_duration_ms(value: object) -> int:
    """Milliseconds from an int (ms), digits (ms), ``-1``/``forever`` or a string like ``1h30m``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a duration like 7d, 12h, 30m or milliseconds, got {value!r}")
    if isinstance(value, int):
        return _checked_ms(value)
    text = value.strip().lower()
    if text in _UNLIMITED_WORDS:
        return UNLIMITED_MS
    if re.fullmatch(r"-?\d+", text):
        return _checked_ms(int(text))
    if not _DURATION.fullmatch(text):
        raise ValueError(
            f"cannot read duration {value!r}; use e.g. 7d, 12h, 1h30m, 500ms, "
            "milliseconds, or forever"
        )
    return sum(int(n) * _UNIT_MS[unit] for n, unit in re.findall(_PART, text))


def format_duration_ms(ms: int) -> str:
    """The shortest exact spelling, so messages and plans read ``6h`` rather than ``21600000``."""
    if ms < 0:
        return "forever"
    if ms == 0:
        return "0ms"
    parts: list[str] = []
    rest = ms
    for unit, size in _UNIT_MS.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _checked_ms(ms: int) -> int:
    if ms < UNLIMITED_MS:
        raise ValueError(
            f"a duration cannot be negative (got {ms}); use -1 or forever for no limit"
        )
    return ms
