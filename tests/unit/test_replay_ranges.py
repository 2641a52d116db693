"""Resolving a replay range against watermarks and offsets-for-times, without a broker."""

from __future__ import annotations

import pytest

from pipeline.errors import UserError
from pipeline.replay.ranges import (
    END_OF_LOG,
    PartitionRange,
    RangeSpec,
    Watermarks,
    plan_ranges,
    select_partitions,
)

MARKS = {0: Watermarks(10, 100), 1: Watermarks(0, 5), 2: Watermarks(50, 50)}


def test_an_open_range_is_everything_retained() -> None:
    assert plan_ranges(RangeSpec(), MARKS, {}) == (
        PartitionRange(0, 10, 100),
        PartitionRange(1, 0, 5),
        PartitionRange(2, 50, 50),
    )


def test_offsets_are_clamped_to_the_watermarks_of_each_partition() -> None:
    ranges = plan_ranges(RangeSpec(start_offset=3, end_offset=60), MARKS, {})
    assert ranges == (
        PartitionRange(0, 10, 60),  # start below the low watermark: retention deleted 3..9
        PartitionRange(1, 3, 5),  # end past the high watermark
        PartitionRange(2, 50, 50),  # empty partition
    )
    assert [r.count for r in ranges] == [50, 2, 0]


def test_a_range_past_the_end_is_empty() -> None:
    ranges = plan_ranges(RangeSpec(start_offset=500), MARKS, {})
    assert [r.count for r in ranges] == [0, 0, 0]
    assert ranges[0] == PartitionRange(0, 100, 100)


def test_times_resolve_to_offsets_and_end_of_log_means_the_high_watermark() -> None:
    spec = RangeSpec(start_time_ms=1_000, end_time_ms=2_000)
    offsets_at = {1_000: {0: 40, 1: 2}, 2_000: {0: 70, 1: END_OF_LOG}}
    ranges = plan_ranges(spec, {0: MARKS[0], 1: MARKS[1]}, offsets_at)
    assert ranges == (PartitionRange(0, 40, 70), PartitionRange(1, 2, 5))


def test_a_start_time_after_the_last_record_is_empty() -> None:
    ranges = plan_ranges(RangeSpec(start_time_ms=9_000), {0: MARKS[0]}, {9_000: {0: END_OF_LOG}})
    assert ranges == (PartitionRange(0, 100, 100),)


def test_a_time_start_and_an_offset_end_may_mix_and_never_cross() -> None:
    spec = RangeSpec(start_time_ms=1_000, end_offset=20)
    ranges = plan_ranges(spec, {0: MARKS[0]}, {1_000: {0: 40}})
    assert ranges == (PartitionRange(0, 40, 40),)
    assert spec.times_ms == (1_000,)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (dict(start_offset=10, end_offset=5), "end offset 5 is before the start offset 10"),
        (dict(start_time_ms=10, end_time_ms=5), "end time is before the start time"),
        (dict(start_offset=1, start_time_ms=1), "start as an offset or as a time"),
        (dict(end_offset=1, end_time_ms=1), "end as an offset or as a time"),
        (dict(start_offset=-1), "start offset must be 0 or more"),
    ],
)
def test_impossible_ranges_are_user_errors(spec: dict[str, int], message: str) -> None:
    with pytest.raises(UserError, match=message):
        RangeSpec(**spec)


def test_partitions_default_to_all_and_must_exist() -> None:
    assert select_partitions("t", [2, 0, 1], []) == [0, 1, 2]
    assert select_partitions("t", [0, 1, 2], [2, 2, 0]) == [0, 2]
    with pytest.raises(UserError, match=r"topic t has partitions 0..2; partition 3, 7 does not"):
        select_partitions("t", [0, 1, 2], [3, 1, 7])
