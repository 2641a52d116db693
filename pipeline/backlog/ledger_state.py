"""The ledger folded into its latest state per range: what a compacted topic means, in memory.

Records come from reading the topic and from this process's own acknowledged writes, in either
order; the ledger offset decides which is newer, so a progress record read back late never
resurrects a range this process has already tombstoned.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.backlog.ranges import BacklogRange


@dataclass(frozen=True)
class LedgerPosition:
    partition: int
    offset: int


@dataclass(frozen=True)
class _Entry:
    position: LedgerPosition
    range: BacklogRange | None  # None: tombstoned


class LedgerState:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def apply(self, key: str, position: LedgerPosition, value: BacklogRange | None) -> None:
        """Keep the newer of what is known and this record (``value`` None is a tombstone)."""
        current = self._entries.get(key)
        if (
            current is not None
            and current.position.partition == position.partition
            and current.position.offset >= position.offset
        ):
            return
        self._entries[key] = _Entry(position, value)

    def open_ranges(self, group: str | None = None, topic: str | None = None) -> list[BacklogRange]:
        """Ranges not tombstoned, optionally of one live group and input topic."""
        return [
            entry.range
            for entry in self._entries.values()
            if entry.range is not None
            and (group is None or entry.range.group == group)
            and (topic is None or entry.range.topic == topic)
        ]

    def get(self, key: str) -> BacklogRange | None:
        entry = self._entries.get(key)
        return None if entry is None else entry.range
