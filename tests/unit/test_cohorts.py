"""Cohort bookkeeping without a broker: folding on commit, the metadata's size cap, what a
message came to, and the waterfall built from summaries."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from pipeline.cohorts.book import CohortBook, PartitionCohorts, column_of
from pipeline.cohorts.counts import (
    COLUMNS,
    DEAD_LETTERED,
    FILTERED,
    FORWARDED,
    INVALID,
    OUTCOME_HEADER,
    REPLAYED,
    STORED,
    decode_done,
    encode_done,
)
from pipeline.cohorts.metrics import CohortCollector
from pipeline.cohorts.snapshot import decode_summaries, fold_summaries
from pipeline.runtime.messages import Produce, Write

WIDTH_MS = 10_000


def row(**columns: int) -> list[int]:
    names = ("forwarded", "stored", "filtered", "invalid", "dead_lettered", "replayed")
    return [columns.get(name, 0) for name in names]


def test_only_what_the_commit_covers_becomes_done() -> None:
    part = PartitionCohorts()
    for _ in range(4):
        part.take(cohort=1)
    part.finish(0, 1, FORWARDED)
    part.finish(1, 1, FILTERED)
    part.finish(3, 1, FORWARDED)  # finished out of order: 2 is still open
    part.fold(committed=2, keep=10)
    assert part.done == {1: row(forwarded=1, filtered=1)}
    assert part.in_flight == {1: 2}
    part.finish(2, 1, DEAD_LETTERED)
    part.fold(committed=4, keep=10)
    assert part.done == {1: row(forwarded=2, filtered=1, dead_lettered=1)}
    assert part.in_flight == {}


def test_replays_are_done_apart_and_never_in_flight() -> None:
    part = PartitionCohorts()
    part.finish(0, 5, REPLAYED)
    part.fold(committed=1, keep=10)
    assert part.done == {5: row(replayed=1)}
    assert part.in_flight == {}


def test_old_cohorts_are_dropped_beyond_keep() -> None:
    part = PartitionCohorts({c: row(forwarded=1) for c in range(5)})
    part.fold(committed=0, keep=2)
    assert sorted(part.done) == [3, 4]


def test_commit_metadata_round_trips_and_stays_under_the_broker_cap() -> None:
    done = {c: [10**6] * COLUMNS for c in range(500)}
    text = encode_done(done, WIDTH_MS, keep=500, limit_bytes=4000)
    assert len(text) <= 4000
    decoded = decode_done(text, WIDTH_MS)
    assert decoded and max(decoded) == 499  # the newest kept, the oldest dropped
    assert all(decoded[c] == done[c] for c in decoded)


def test_metadata_of_another_width_or_writer_is_ignored() -> None:
    text = encode_done({1: row(stored=3)}, WIDTH_MS, keep=5, limit_bytes=4000)
    assert decode_done(text, WIDTH_MS * 2) == {}
    assert decode_done("not json", WIDTH_MS) == {}
    assert decode_done('{"w": 10000, "c": [1, 2]}', WIDTH_MS) == {}
    assert decode_done(None, WIDTH_MS) == {}


def outcome(kind: str) -> Produce:
    return Produce("outcomes", b"", headers=[(OUTCOME_HEADER, kind.encode())])


def test_what_a_message_came_to_follows_what_it_emitted() -> None:
    assert column_of([Produce("events.normalized", b"")]) == FORWARDED
    assert column_of([outcome("filtered")]) == FILTERED
    assert column_of([outcome("invalid")]) == INVALID
    assert column_of([outcome("accepted"), Write(object())]) == STORED
    assert column_of([outcome("invalid"), Produce("next", b"")]) == FORWARDED
    assert column_of([]) == FILTERED


def summary(stage: str, done: dict[int, list[int]], in_flight: dict[int, int]) -> bytes:
    return json.dumps(
        {
            "kind": "partition",
            "stage": stage,
            "group": f"pipeline-{stage}",
            "topic": "t",
            "partition": 0,
            "width_ms": WIDTH_MS,
            "done": {str(k): v for k, v in done.items()},
            "in_flight": {str(k): v for k, v in in_flight.items()},
        }
    ).encode()


def test_the_waterfall_shows_pending_work_and_where_a_cohort_is_stuck() -> None:
    now = 1_000_000
    old, fresh = now - 120_000, now - 5_000
    values = [
        summary("normalize", {old: row(forwarded=10), fresh: row(forwarded=4)}, {}),
        summary("symbolicate", {old: row(forwarded=6)}, {old: 4, fresh: 4}),
        summary("store", {old: row(stored=5)}, {}),
        summary("store", {old: row(stored=1)}, {}),  # another partition of the same stage
        b"not json",
    ]
    snapshot = fold_summaries(decode_summaries(values), now, WIDTH_MS // 1000, stuck_after_s=60)
    assert snapshot.stages == ["normalize", "symbolicate", "store"]
    newest, oldest = snapshot.cohorts
    assert newest.start_ms == fresh and oldest.start_ms == old
    cells = oldest.to_json()["stages"]
    assert cells["symbolicate"]["in"] == 10 and cells["symbolicate"]["in_flight"] == 4
    assert cells["store"]["in"] == 6 and cells["store"]["pending"] == 0
    assert oldest.stuck_at == "symbolicate"
    assert newest.stuck_at is None  # still within its grace
    assert snapshot.to_json()["cohorts"][0]["label"] == "00:16"


def test_prometheus_sums_the_partitions_of_the_stage() -> None:
    book = CohortBook("store", "g", "cohorts", WIDTH_MS, 10, "i", dict, ())
    book.open("t", 0, None).done[1] = row(stored=2)
    second = book.open("t", 1, None)
    second.done[1] = row(stored=3)
    second.take(1)
    registry = CollectorRegistry()
    registry.register(CohortCollector(book))
    cohort = "1970-01-01T00:00Z"
    labels = {"stage": "store", "cohort": cohort}
    assert (
        registry.get_sample_value("pipeline_cohort_messages", {**labels, "outcome": "stored"}) == 5
    )
    assert registry.get_sample_value("pipeline_cohort_in_flight_messages", labels) == 1


def test_a_commit_inside_a_run_of_finished_offsets_folds_only_what_it_covers() -> None:
    part = PartitionCohorts()
    for offset in range(10):
        part.take(cohort=1)
        part.finish(offset, 1, FORWARDED)
    part.fold(committed=4, keep=10)
    assert part.done == {1: row(forwarded=4)}
    assert part.in_flight == {1: 6}
    part.fold(committed=10, keep=10)
    assert part.done == {1: row(forwarded=10)}
    assert part.in_flight == {}


def test_interleaved_cohorts_columns_and_finishing_order_are_each_counted_once() -> None:
    part = PartitionCohorts()
    columns = {o: (o // 7 % 3, FILTERED if o % 5 == 0 else FORWARDED) for o in range(200)}
    for cohort, _ in columns.values():
        part.take(cohort)
    # finishes in order within blocks of 10, the blocks in a shuffled order
    blocks = [list(range(b, b + 10)) for b in range(0, 200, 10)]
    for block in blocks[1::2] + blocks[0::2]:
        for offset in block:
            part.finish(offset, *columns[offset])
    part.fold(committed=95, keep=10)
    expected: dict[int, list[int]] = {}
    for offset, (cohort, column) in columns.items():
        if offset < 95:
            expected.setdefault(cohort, [0] * COLUMNS)[column] += 1
    assert part.done == expected
    assert sum(part.in_flight.values()) == 105
    part.fold(committed=200, keep=10)
    assert sum(sum(r) for r in part.done.values()) == 200
    assert part.in_flight == {}


def test_in_order_finishing_is_held_as_one_run_not_an_entry_per_message() -> None:
    part = PartitionCohorts()
    for offset in range(100_000):
        part.take(cohort=3)
        part.finish(offset, 3, FORWARDED)
    assert len(part.finished) == 1
    part.fold(committed=100_000, keep=10)
    assert part.done == {3: row(forwarded=100_000)}
