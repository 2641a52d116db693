"""One sliced range of offsets, as the ledger stores it, and the arithmetic on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SCHEMA = "backlog_range"


@dataclass(frozen=True)
class BacklogRange:
    """Offsets ``[start, end)`` of one partition still to drain; ``origin_start`` never moves."""

    stage: str
    group: str
    topic: str
    partition: int
    origin_start: int
    start: int
    end: int
    created_at_ms: int
    updated_at_ms: int
    expired: int = 0

    @property
    def key(self) -> str:
        """The compacted ledger's key: one record per range, the latest state wins."""
        return f"{self.group}/{self.topic}/{self.partition}/{self.origin_start}"

    @property
    def size(self) -> int:
        return self.end - self.origin_start

    @property
    def remaining(self) -> int:
        return max(0, self.end - self.start)

    @property
    def drained(self) -> bool:
        return self.start >= self.end

    @property
    def progress(self) -> float:
        """Share of the range behind ``start`` (drained or expired), 0..1."""
        return 1.0 if self.size <= 0 else min(1.0, (self.start - self.origin_start) / self.size)

    def advanced(self, start: int, now_ms: int) -> BacklogRange:
        return replace(self, start=min(max(start, self.start), self.end), updated_at_ms=now_ms)

    def expire_below(self, low: int, now_ms: int) -> tuple[BacklogRange, int]:
        """The range moved past offsets below ``low`` (deleted by retention), and how many."""
        lost = max(0, min(low, self.end) - self.start)
        if lost == 0:
            return self, 0
        moved = replace(
            self, start=self.start + lost, expired=self.expired + lost, updated_at_ms=now_ms
        )
        return moved, lost

    def to_record(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "group": self.group,
            "topic": self.topic,
            "partition": self.partition,
            "origin_start": self.origin_start,
            "start": self.start,
            "end": self.end,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "expired": self.expired,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BacklogRange:
        """From a decoded ledger value (v1 records read as v2 carry ``expired`` = 0)."""
        return cls(
            stage=record["stage"],
            group=record["group"],
            topic=record["topic"],
            partition=int(record["partition"]),
            origin_start=int(record["origin_start"]),
            start=int(record["start"]),
            end=int(record["end"]),
            created_at_ms=int(record["created_at_ms"]),
            updated_at_ms=int(record["updated_at_ms"]),
            expired=int(record.get("expired", 0)),
        )


def oldest_first(ranges: list[BacklogRange]) -> list[BacklogRange]:
    return sorted(ranges, key=lambda r: (r.created_at_ms, r.topic, r.partition, r.origin_start))
