"""Ledger arithmetic: keys, progress, expiry, and the fold of a compacted ledger."""

from __future__ import annotations

from dataclasses import replace

from pipeline.adapters.kafka.codec import SingleObjectCodec, load_catalog
from pipeline.backlog.ledger_state import LedgerPosition, LedgerState
from pipeline.backlog.ranges import SCHEMA, BacklogRange, oldest_first
from pipeline.config import PROJECT_ROOT

RANGE = BacklogRange(
    stage="normalize",
    group="pipeline.normalize",
    topic="events.raw",
    partition=2,
    origin_start=1000,
    start=1000,
    end=3000,
    created_at_ms=1_000,
    updated_at_ms=1_000,
)


def test_key_names_group_topic_partition_and_origin() -> None:
    assert RANGE.key == "pipeline.normalize/events.raw/2/1000"
    assert replace(RANGE, start=2500).key == RANGE.key


def test_progress_moves_start_forward_only_and_never_past_the_end() -> None:
    moved = RANGE.advanced(1500, now_ms=2_000)
    assert (moved.start, moved.remaining, moved.progress) == (1500, 1500, 0.25)
    assert moved.updated_at_ms == 2_000
    assert moved.advanced(1200, 3_000).start == 1500
    done = moved.advanced(5000, 3_000)
    assert done.drained and done.start == 3000 and done.progress == 1.0


def test_expiry_moves_start_to_the_low_watermark_and_counts_the_gap() -> None:
    moved, lost = RANGE.advanced(1200, 2_000).expire_below(1700, now_ms=5_000)
    assert (lost, moved.start, moved.expired, moved.updated_at_ms) == (500, 1700, 500, 5_000)
    again, more = moved.expire_below(1800, now_ms=6_000)
    assert (more, again.expired) == (100, 600)
    assert moved.expire_below(1000, 7_000) == (moved, 0)


def test_a_range_wholly_below_the_low_watermark_is_drained_with_everything_expired() -> None:
    moved, lost = RANGE.expire_below(10_000, now_ms=5_000)
    assert lost == 2000 and moved.drained and moved.expired == 2000


def test_oldest_first_orders_by_slice_time_then_position() -> None:
    newer = replace(RANGE, created_at_ms=5_000, partition=0)
    same_time = replace(RANGE, partition=1)
    assert oldest_first([newer, RANGE, same_time]) == [same_time, RANGE, newer]


def test_records_round_trip_through_the_codec_and_v1_records_read_as_not_expired() -> None:
    catalog = load_catalog(PROJECT_ROOT / "schemas")
    codec = SingleObjectCodec(catalog)
    expired = replace(RANGE, expired=7)
    decoded = codec.decode(SCHEMA, codec.encode(SCHEMA, expired.to_record(), "t"), "t")
    assert BacklogRange.from_record(decoded) == expired
    v1 = {k: v for k, v in RANGE.to_record().items() if k != "expired"}
    assert BacklogRange.from_record(v1).expired == 0


def position(offset: int, partition: int = 0) -> LedgerPosition:
    return LedgerPosition(partition, offset)


def test_the_latest_record_per_key_wins_and_a_tombstone_closes_the_range() -> None:
    state = LedgerState()
    other = replace(RANGE, origin_start=5000, start=5000, end=6000)
    state.apply(RANGE.key, position(1), RANGE)
    state.apply(other.key, position(2), other)
    state.apply(RANGE.key, position(3), RANGE.advanced(2000, 2_000))
    assert sorted(r.start for r in state.open_ranges()) == [2000, 5000]
    state.apply(RANGE.key, position(4), None)
    assert state.open_ranges() == [other]
    assert state.get(RANGE.key) is None


def test_an_older_record_read_back_late_never_resurrects_a_tombstoned_range() -> None:
    """The drain applies its own acknowledged writes before it reads them back."""
    state = LedgerState()
    state.apply(RANGE.key, position(10), None)
    state.apply(RANGE.key, position(9), RANGE.advanced(2500, 2_000))
    assert state.open_ranges() == []


def test_open_ranges_filter_by_live_group_and_topic() -> None:
    state = LedgerState()
    mine = RANGE
    other_group = replace(RANGE, group="pipeline.store")
    other_topic = replace(RANGE, topic="events.normalized")
    for offset, rng in enumerate((mine, other_group, other_topic)):
        state.apply(rng.key, position(offset), rng)
    assert state.open_ranges("pipeline.normalize", "events.raw") == [mine]
    assert len(state.open_ranges()) == 3
