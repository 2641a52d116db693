"""Why each partition is paused. Pure bookkeeping; the consumer loop applies the difference."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)
_NONE: set[str] = set()


class PauseBook(Generic[P]):
    """Pause reasons per partition plus stage-wide reasons that apply to every partition.

    A partition is paused while it has any reason; resuming one reason keeps the others.
    """

    def __init__(self) -> None:
        self._local: dict[P, set[str]] = {}
        self._global: set[str] = set()

    def add_partition(self, partition: P) -> None:
        self._local.setdefault(partition, set())

    def remove_partition(self, partition: P) -> None:
        self._local.pop(partition, None)

    def mark(self, partition: P, reason: str, active: bool) -> bool:
        """Add or clear a partition's reason; True if that changed anything."""
        reasons = self._local.get(partition)
        if reasons is None or (reason in reasons) == active:
            return False
        if active:
            reasons.add(reason)
        else:
            reasons.discard(reason)
        return True

    def mark_global(self, reason: str, active: bool) -> bool:
        if (reason in self._global) == active:
            return False
        if active:
            self._global.add(reason)
        else:
            self._global.discard(reason)
        return True

    def local_reasons(self, partition: P) -> set[str]:
        """The partition's own reasons (not the stage-wide ones); do not modify."""
        return self._local.get(partition, _NONE)

    def reasons(self, partition: P) -> set[str]:
        return self._local.get(partition, set()) | self._global

    def global_reasons(self) -> frozenset[str]:
        return frozenset(self._global)

    def paused(self) -> set[P]:
        if self._global:
            return set(self._local)
        return {p for p, reasons in self._local.items() if reasons}

    def partitions(self) -> Iterable[P]:
        return self._local.keys()
