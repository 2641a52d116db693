"""What normalizing one raw event can end in, and the per-event log of processing errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STAGE = "normalize"


@dataclass(frozen=True, slots=True)
class Normalized:
    """A processed event record (schemas/processed_event/v1.avsc), ready to encode."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Filtered:
    """A valid event a drop rule matched; ``reason`` is the rule's name."""

    reason: str
    event_id: str
    project_id: int
    received_at_ms: int


@dataclass(frozen=True, slots=True)
class Invalid:
    """An event that cannot be processed; ``reason`` is short snake_case, ``detail`` for humans.

    ``event_id`` is the best id known (edge's, else payload's), or "" when there is none.
    """

    reason: str
    event_id: str
    project_id: int
    received_at_ms: int
    detail: str = ""


Result = Normalized | Filtered | Invalid


class ErrorLog:
    """Processing errors kept on one event (``errors`` in the schema); bounded, one per event."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._entries: list[dict[str, str]] = []

    def add(self, kind: str, detail: str = "") -> None:
        if len(self._entries) < self._limit:
            self._entries.append({"stage": STAGE, "kind": kind, "detail": detail[:200]})
        elif len(self._entries) == self._limit:
            self._entries.append({"stage": STAGE, "kind": "too_many_errors", "detail": ""})

    def bad_type(self, path: str, value: Any) -> None:
        """A known field of the wrong JSON type was dropped."""
        self.add("bad_type", f"{path}: {json_type(value)}")

    @property
    def entries(self) -> list[dict[str, str]]:
        return self._entries


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error details."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
