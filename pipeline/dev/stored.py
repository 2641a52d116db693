"""How much the store stage has written: events and groups, read through the store adapter."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.adapters.db import EventStore, StoreUnavailable


@dataclass(frozen=True)
class StoreCounts:
    events: int
    groups: int


def count_stored(store: EventStore, max_groups: int = 100_000) -> StoreCounts | None:
    """Events as the sum of the groups' counts (each stored event counts once in its group);
    None while the database does not answer."""
    try:
        groups = store.list_groups(limit=max_groups)
    except StoreUnavailable:
        return None
    return StoreCounts(events=sum(g.times_seen for g in groups), groups=len(groups))
