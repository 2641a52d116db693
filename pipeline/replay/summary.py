"""What a replay did, and where an unfinished one must start again."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pipeline.replay.ranges import PartitionRange


@dataclass
class PartitionProgress:
    """One source partition: offsets below ``next_offset`` were handled, but those in
    ``pending`` still wait for the broker and ``first_failed`` was never written."""

    start: int
    end: int
    next_offset: int = field(init=False)
    pending: set[int] = field(default_factory=set)
    first_failed: int | None = None

    def __post_init__(self) -> None:
        self.next_offset = self.start

    @property
    def done(self) -> int:
        """Offsets handled so far (what the progress bar shows)."""
        return self.next_offset - self.start

    @property
    def resume_offset(self) -> int:
        """The first offset not known to be copied: a new replay from here loses nothing."""
        candidates = [self.next_offset, *self.pending]
        if self.first_failed is not None:
            candidates.append(self.first_failed)
        return min(candidates)

    def remaining(self, partition: int) -> PartitionRange:
        return PartitionRange(partition, self.resume_offset, self.end)

    def failed(self, offset: int) -> None:
        self.pending.discard(offset)
        self.first_failed = offset if self.first_failed is None else min(self.first_failed, offset)


@dataclass
class ReplaySummary:
    """Counters of a replay, updated while it runs; final once ``replay_*`` returns."""

    source: str
    dry_run: bool
    planned: int
    """Offsets in the planned ranges (an upper bound of the records)."""
    read: int = 0
    written: int = 0
    """Acknowledged by the broker (in a dry run: nothing)."""
    skipped: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    """Not written: delivery failed or the target topic does not exist."""
    unacknowledged: int = 0
    """Still without a delivery report when the final flush gave up."""
    by_target: Counter[str] = field(default_factory=Counter)
    """Records written per target topic (in a dry run: records that would be written)."""
    elapsed_s: float = 0.0
    interrupted: bool = False
    first_error: str | None = None
    remaining: tuple[PartitionRange, ...] = ()
    """What is left to copy, per unfinished partition: a replay of these loses nothing."""

    @property
    def rate(self) -> float:
        """Records per second written (read, in a dry run)."""
        done = self.read if self.dry_run else self.written
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every record of the plan was copied (or deliberately skipped)."""
        return not self.interrupted and not self.failed and not self.unacknowledged
