"""Which offsets a replay copies: a range spec resolved against a topic's partitions (pure).

Ends are exclusive and fixed when the plan is made (never past the high watermark then), so a
replay into its own source never chases its own writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipeline.errors import UserError

END_OF_LOG = -1
"""What ``offsets_for_times`` answers when no record is at or after the time."""
_MAX_OFFSET = 2**63 - 1
"""Past any high watermark: clamping turns it into the high watermark."""


@dataclass(frozen=True)
class Watermarks:
    low: int
    high: int


@dataclass(frozen=True)
class RangeSpec:
    """Start and end of the range: each an offset, a time (ms since the epoch) or open.

    Open means the oldest retained record (start) and the high watermark (end).
    """

    start_offset: int | None = None
    end_offset: int | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None

    def __post_init__(self) -> None:
        if self.start_offset is not None and self.start_time_ms is not None:
            raise UserError("give the start as an offset or as a time, not both")
        if self.end_offset is not None and self.end_time_ms is not None:
            raise UserError("give the end as an offset or as a time, not both")
        for name, value in (("start", self.start_offset), ("end", self.end_offset)):
            if value is not None and value < 0:
                raise UserError(f"the {name} offset must be 0 or more, not {value}")
        if _before(self.end_offset, self.start_offset):
            raise UserError(
                f"the end offset {self.end_offset} is before the start offset {self.start_offset}"
            )
        if _before(self.end_time_ms, self.start_time_ms):
            raise UserError("the end time is before the start time")

    @property
    def times_ms(self) -> tuple[int, ...]:
        """The times to look up with ``offsets_for_times``."""
        return tuple(t for t in (self.start_time_ms, self.end_time_ms) if t is not None)


@dataclass(frozen=True)
class PartitionRange:
    """Offsets [start, end) of one partition."""

    partition: int
    start: int
    end: int

    @property
    def count(self) -> int:
        """Upper bound of the records in it (compaction and transaction markers leave gaps)."""
        return self.end - self.start


def select_partitions(topic: str, available: Iterable[int], requested: Iterable[int]) -> list[int]:
    """The requested partitions (all when none are), each checked to exist."""
    existing = sorted(available)
    wanted = sorted(set(requested)) or existing
    missing = [p for p in wanted if p not in existing]
    if missing:
        raise UserError(
            f"topic {topic} has partitions 0..{len(existing) - 1}; "
            f"partition {', '.join(map(str, missing))} does not exist"
        )
    return wanted


def plan_ranges(
    spec: RangeSpec,
    watermarks: Mapping[int, Watermarks],
    offsets_at: Mapping[int, Mapping[int, int]],
) -> tuple[PartitionRange, ...]:
    """Per-partition ranges, clamped to the watermarks.

    ``offsets_at[time_ms][partition]`` is the first offset at or after ``time_ms``, or
    ``END_OF_LOG``, as ``offsets_for_times`` returns it for every time in ``spec.times_ms``.
    """
    ranges = []
    for partition, marks in sorted(watermarks.items()):
        start = _resolve(spec.start_offset, spec.start_time_ms, offsets_at, partition, marks.low)
        end = _resolve(spec.end_offset, spec.end_time_ms, offsets_at, partition, marks.high)
        start = min(max(start, marks.low), marks.high)
        end = min(max(end, start), marks.high)
        ranges.append(PartitionRange(partition, start, end))
    return tuple(ranges)


def _resolve(
    offset: int | None,
    time_ms: int | None,
    offsets_at: Mapping[int, Mapping[int, int]],
    partition: int,
    default: int,
) -> int:
    if offset is not None:
        return offset
    if time_ms is None:
        return default
    found = offsets_at[time_ms][partition]
    return _MAX_OFFSET if found == END_OF_LOG else found


def _before(end: int | None, start: int | None) -> bool:
    return end is not None and start is not None and end < start
