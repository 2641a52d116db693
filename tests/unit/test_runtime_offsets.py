"""OffsetTracker: the committable offset never passes unfinished work, whatever the finish order."""

from __future__ import annotations

import random

import pytest

from pipeline.runtime.offsets import OffsetTracker


def test_a_fresh_tracker_knows_nothing_to_commit() -> None:
    tracker = OffsetTracker()
    assert tracker.committable is None
    assert tracker.last_seen is None
    assert tracker.in_flight == 0


def test_a_start_position_is_committable_before_anything_is_taken() -> None:
    tracker = OffsetTracker(start=10)
    assert tracker.committable == 10
    assert tracker.last_seen == 9


def test_the_committable_offset_is_the_lowest_unfinished_one() -> None:
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.add(offset)
    assert (tracker.committable, tracker.in_flight) == (5, 3)
    tracker.done(6)
    assert (tracker.committable, tracker.in_flight) == (5, 2)
    tracker.done(5)
    assert (tracker.committable, tracker.in_flight) == (7, 1)
    tracker.done(7)
    assert (tracker.committable, tracker.in_flight) == (8, 0)


def test_gaps_in_the_offsets_are_skipped() -> None:
    """Compacted topics and transaction markers leave holes between consumed offsets."""
    tracker = OffsetTracker()
    tracker.add(5)
    tracker.add(9)
    tracker.done(5)
    assert tracker.committable == 9
    tracker.done(9)
    assert tracker.committable == 10


@pytest.mark.parametrize("offset", [3, 4])
def test_taking_an_offset_twice_or_backwards_is_refused(offset: int) -> None:
    tracker = OffsetTracker()
    tracker.add(4)
    with pytest.raises(ValueError, match="taken twice or out of order"):
        tracker.add(offset)


def test_reset_forgets_unfinished_work_and_moves_the_position() -> None:
    tracker = OffsetTracker()
    tracker.add(1)
    tracker.add(2)
    tracker.reset(100)
    assert (tracker.committable, tracker.in_flight, tracker.last_seen) == (100, 0, 99)
    tracker.done(1)  # stale work finishing after the seek changes nothing
    assert tracker.committable == 100
    with pytest.raises(ValueError):
        tracker.add(99)
    tracker.add(100)
    assert tracker.committable == 100


def test_any_finish_order_commits_exactly_the_finished_prefix() -> None:
    rng = random.Random(7)
    offsets = list(range(1000, 1200))
    tracker = OffsetTracker()
    for offset in offsets:
        tracker.add(offset)
    finished: set[int] = set()
    for offset in rng.sample(offsets, len(offsets)):
        tracker.done(offset)
        finished.add(offset)
        unfinished = [o for o in offsets if o not in finished]
        assert tracker.committable == (unfinished[0] if unfinished else offsets[-1] + 1)
        assert tracker.in_flight == len(unfinished)
