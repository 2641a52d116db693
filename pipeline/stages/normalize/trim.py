"""Cutting strings to a limit, recording that it happened."""

from __future__ import annotations

from pipeline.stages.normalize.results import ErrorLog

ELLIPSIS = "..."


def trim(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` chars, ending in an ellipsis when there is room for one."""
    if len(text) <= limit:
        return text
    if limit <= 2 * len(ELLIPSIS):
        return text[:limit]
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


def trim_logged(text: str, limit: int, path: str, errors: ErrorLog) -> str:
    """Like ``trim``, with a ``value_too_long`` error naming the field when it cut."""
    if len(text) <= limit:
        return text
    errors.add("value_too_long", f"{path}: {len(text)} chars, limit {limit}")
    return trim(text, limit)
