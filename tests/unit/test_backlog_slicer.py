"""When the live consumer slices, from its partition snapshot alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.backlog.slicer import SliceRule, slice_bounds
from pipeline.runtime.partition import PartitionStatus

NOW_MS = 1_000_000
RULE = SliceRule(stale_after_ms=60_000, min_messages=100)
BEHIND = PartitionStatus(
    topic="events.raw",
    partition=0,
    position=520,
    committed=500,
    high_watermark=10_000,
    in_flight=20,
    last_timestamp_ms=NOW_MS - 120_000,
    paused_reasons=frozenset(),
)


def test_a_stale_partition_far_behind_is_sliced_from_committed_to_the_high_watermark() -> None:
    assert slice_bounds(BEHIND, NOW_MS, RULE) == (500, 10_000)


@pytest.mark.parametrize(
    "change",
    [
        {"last_timestamp_ms": NOW_MS - 59_000},  # fresh enough
        {"high_watermark": 610},  # only 90 behind
        {"committed": None},  # nothing committed yet in this assignment
        {"position": None, "committed": None},  # nothing taken yet
        {"last_timestamp_ms": None},
        {"high_watermark": None},
        {"paused_reasons": frozenset({"shutdown"})},
    ],
)
def test_no_slice(change: dict[str, object]) -> None:
    assert slice_bounds(replace(BEHIND, **change), NOW_MS, RULE) is None  # type: ignore[arg-type]


def test_paused_for_pressure_still_slices() -> None:
    status = replace(BEHIND, paused_reasons=frozenset({"window_full", "downstream_lag"}))
    assert slice_bounds(status, NOW_MS, RULE) == (500, 10_000)


def test_after_a_slice_the_partition_waits_for_a_message_past_it() -> None:
    """Right after seeking, the age still describes the old message: no second slice."""
    just_sliced = replace(BEHIND, position=10_000, committed=10_000, high_watermark=10_500)
    assert slice_bounds(just_sliced, NOW_MS, RULE, sliced_end=10_000) is None
    moved_on = replace(just_sliced, position=10_001, high_watermark=20_000)
    assert slice_bounds(moved_on, NOW_MS, RULE, sliced_end=10_000) == (10_000, 20_000)
