"""Per-partition bookkeeping of work in flight, and the offset that is safe to commit."""

from __future__ import annotations

from collections import deque


class OffsetTracker:
    """Offsets of one partition that were taken but are not finished yet.

    Offsets arrive in increasing order but finish in any order. The committable offset is the
    lowest offset not yet done (or one past the last seen when nothing is pending), so a commit
    never passes unfinished work.
    """

    __slots__ = ("_done", "_last_seen", "_pending")

    def __init__(self, start: int | None = None) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._last_seen: int | None = None if start is None else start - 1

    def add(self, offset: int) -> None:
        self.add_run([offset])

    def add_run(self, offsets: list[int]) -> None:
        """Offsets taken together, in increasing order (one partition's part of a batch)."""
        if not offsets:
            return
        if self._last_seen is not None and offsets[0] <= self._last_seen:
            raise ValueError(
                f"offset {offsets[0]} taken twice or out of order (last {self._last_seen})"
            )
        self._pending.extend(offsets)
        self._last_seen = offsets[-1]

    def done(self, offset: int) -> None:
        pending = self._pending
        if not pending or offset < pending[0]:
            return  # taken before a reset: not ours to count any more
        if pending[0] != offset:  # finished out of order: remember it until the ones before are
            self._done.add(offset)
            return
        pending.popleft()
        done = self._done
        while done and pending and pending[0] in done:
            done.discard(pending.popleft())

    def reset(self, position: int) -> None:
        """Forget everything (after a seek): the next offset taken is ``position`` or later."""
        self._pending.clear()
        self._done.clear()
        self._last_seen = position - 1

    @property
    def last_seen(self) -> int | None:
        return self._last_seen

    @property
    def in_flight(self) -> int:
        return len(self._pending) - len(self._done)

    @property
    def committable(self) -> int | None:
        """The next offset to commit (Kafka commits the next offset to read), or None if unknown."""
        if self._pending:
            return self._pending[0]
        return None if self._last_seen is None else self._last_seen + 1
