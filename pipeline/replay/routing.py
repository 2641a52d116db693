"""Where each replayed record goes, and with which headers (pure).

A plain copy keeps every header. A DLQ record goes back to the topic named in its
``dlq.origin.topic`` header (or to an explicit target) without its ``dlq.*`` headers; the rest,
``received_at_ms`` among them, stay so the pipeline still sees the original receive time.
Every replayed record is marked ``replayed``, so cohort counts tell it from a first pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pipeline.cohorts.counts import REPLAYED_HEADER
from pipeline.runtime.dead_letter import (
    DLQ_PREFIX,
    ERROR_HEADER,
    ORIGIN_TOPIC_HEADER,
    STAGE_HEADER,
)

RecordHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Routed:
    topic: str
    headers: RecordHeaders


class Skip(StrEnum):
    """Why a record that was read is not copied; the summary counts each reason."""

    NOT_A_DLQ_RECORD = "no dlq headers"
    OTHER_STAGE = "other stage"
    OTHER_ERROR = "error does not match"


class Route(Protocol):
    def __call__(self, headers: RecordHeaders) -> Routed | Skip: ...

    @property
    def fixed_target(self) -> str | None:
        """The one topic every record goes to, when known before reading."""


@dataclass(frozen=True)
class CopyTo:
    """Every record to ``target``, headers unchanged."""

    target: str

    def __call__(self, headers: RecordHeaders) -> Routed | Skip:
        return Routed(self.target, mark_replayed(headers))

    @property
    def fixed_target(self) -> str | None:
        return self.target


@dataclass(frozen=True)
class BackFromDlq:
    """DLQ records back to their origin topic (or ``target``), optionally only some of them.

    ``stages`` keeps records whose ``dlq.stage`` is one of them; ``error_contains`` keeps records
    whose ``dlq.error`` contains it, ignoring case. Empty means no filter.
    """

    target: str | None = None
    stages: frozenset[str] = frozenset()
    error_contains: str | None = None

    def __call__(self, headers: RecordHeaders) -> Routed | Skip:
        origin = _header(headers, ORIGIN_TOPIC_HEADER)
        if not origin:
            return Skip.NOT_A_DLQ_RECORD
        if self.stages and _header(headers, STAGE_HEADER) not in self.stages:
            return Skip.OTHER_STAGE
        if self.error_contains and (
            self.error_contains.casefold() not in _header(headers, ERROR_HEADER).casefold()
        ):
            return Skip.OTHER_ERROR
        return Routed(self.target or origin, mark_replayed(strip_dlq_headers(headers)))

    @property
    def fixed_target(self) -> str | None:
        return self.target


def mark_replayed(headers: RecordHeaders) -> list[tuple[str, bytes | None]]:
    return [*((k, v) for k, v in headers if k != REPLAYED_HEADER), (REPLAYED_HEADER, b"1")]


def strip_dlq_headers(headers: RecordHeaders) -> list[tuple[str, bytes | None]]:
    return [(key, value) for key, value in headers if not key.startswith(DLQ_PREFIX)]


def _header(headers: RecordHeaders, name: str) -> str:
    for key, value in headers:
        if key == name:
            return (value or b"").decode("utf-8", "replace")
    return ""
