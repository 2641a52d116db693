"""`pipeline replay` against a real broker: exactly the planned records arrive, nothing else."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import typer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from pipeline.cli.replay import replay
from pipeline.cohorts.counts import REPLAYED_HEADER
from pipeline.config import KafkaSettings, Settings
from pipeline.errors import UserError
from pipeline.replay import (
    RangeSpec,
    ReplayOptions,
    Skip,
    plan_replay,
    replay_dlq,
    replay_range,
)
from pipeline.runtime.dead_letter import dead_letter_record
from pipeline.runtime.messages import RECEIVED_AT_HEADER, InputMessage, Produce
from tests.support.kafka import NewTopicFactory
from tests.support.pipeline import TIMEOUT_S, end_offsets, produce, read_to_end

REPLAYED = (REPLAYED_HEADER, b"1")

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Rec:
    partition: int
    key: bytes
    value: bytes
    timestamp_ms: int = 0


def send(bootstrap: str, topic: str, records: list[Rec]) -> None:
    """Records to chosen partitions with chosen timestamps, each carrying received_at_ms."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for r in records:
        producer.produce(
            topic,
            value=r.value,
            key=r.key,
            partition=r.partition,
            timestamp=r.timestamp_ms,
            headers=[(RECEIVED_AT_HEADER, b"1700000000000"), ("n", r.value)],
        )
    assert producer.flush(TIMEOUT_S) == 0


def contents(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None, list[Any]]]:
    return sorted(
        ((m.key, m.value, list(m.headers)) for m in read_to_end(bootstrap, topic)),
        key=lambda item: item[1] or b"",
    )


def expected(
    records: list[Rec], replayed: bool = True
) -> list[tuple[bytes | None, bytes | None, list[Any]]]:
    """The records with their headers; copies are marked replayed (cohort counts keep them
    apart from first passes)."""
    mark = [REPLAYED] if replayed else []
    return sorted(
        (r.key, r.value, [(RECEIVED_AT_HEADER, b"1700000000000"), ("n", r.value), *mark])
        for r in records
    )


def numbered(count: int, partitions: int = 2, base_ms: int = 0) -> list[Rec]:
    return [
        Rec(i % partitions, f"k{i:04}".encode(), f"v{i:04}".encode(), base_ms + i * 1000)
        for i in range(count)
    ]


@pytest.fixture
def config(kafka_bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": kafka_bootstrap}


@pytest.fixture
def dlq_topic(admin: AdminClient, new_topic: NewTopicFactory) -> Iterator[tuple[str, str]]:
    """``(origin, origin.dlq)``: an input topic and its DLQ, named as the runtime names them."""
    origin = new_topic(partitions=2)
    dlq = f"{origin}.dlq"
    admin.create_topics([NewTopic(dlq, num_partitions=1, replication_factor=1)])[dlq].result(
        TIMEOUT_S
    )
    yield origin, dlq
    admin.delete_topics([dlq], operation_timeout=TIMEOUT_S)[dlq].result(TIMEOUT_S)


def test_an_offset_range_of_one_partition_is_copied_exactly(
    kafka_bootstrap: str, config: dict[str, Any], new_topic: NewTopicFactory
) -> None:
    source, target = new_topic(partitions=2), new_topic(partitions=3)
    records = numbered(20)
    send(kafka_bootstrap, source, records)

    summary = replay_range(
        config, source, target, spec=RangeSpec(start_offset=3, end_offset=7), partitions=[1]
    )

    # partition 1 holds records 1, 3, 5, ...; its offsets 3..6 are records 7, 9, 11, 13
    assert contents(kafka_bootstrap, target) == expected([records[i] for i in (7, 9, 11, 13)])
    assert (summary.read, summary.written, summary.failed) == (4, 4, 0)
    assert summary.complete and summary.remaining == ()


def test_a_time_range_is_copied_by_offsets_for_times(
    kafka_bootstrap: str, config: dict[str, Any], new_topic: NewTopicFactory
) -> None:
    source, target = new_topic(partitions=2), new_topic(partitions=1)
    base = time.time_ns() // 1_000_000 - 600_000
    records = numbered(10, base_ms=base)
    send(kafka_bootstrap, source, records)

    summary = replay_range(
        config,
        source,
        target,
        spec=RangeSpec(start_time_ms=base + 3_000, end_time_ms=base + 7_000),
    )

    assert contents(kafka_bootstrap, target) == expected(records[3:7])
    assert summary.written == 4 and summary.complete


def test_a_dlq_goes_back_to_its_origin_without_dlq_headers(
    kafka_bootstrap: str, config: dict[str, Any], dlq_topic: tuple[str, str]
) -> None:
    origin, dlq = dlq_topic
    stages = ["normalize", "normalize", "symbolicate", "normalize", "symbolicate"]
    originals = [
        InputMessage(
            topic=origin,
            partition=i % 2,
            offset=100 + i,
            key=f"event-{i}".encode(),
            value=f"payload-{i}".encode(),
            timestamp_ms=0,
            headers=[(RECEIVED_AT_HEADER, f"{1_700_000_000_000 + i}".encode())],
        )
        for i in range(len(stages))
    ]
    dead = [
        dead_letter_record(msg, dlq, stage, "ValueError: boom", attempts=1, now_ms=1)
        for msg, stage in zip(originals, stages, strict=True)
    ]
    produce(kafka_bootstrap, [*dead, Produce(dlq, b"not a dlq record", key=b"plain")])

    summary = replay_dlq(config, dlq, stages=["normalize"])

    arrived = read_to_end(kafka_bootstrap, origin)
    assert sorted((m.key, m.value, list(m.headers)) for m in arrived) == sorted(
        (m.key, m.value, [*m.headers, REPLAYED])
        for m, s in zip(originals, stages, strict=True)
        if s == "normalize"
    )
    assert summary.written == 3
    assert summary.by_target == {origin: 3}
    assert summary.skipped == {Skip.OTHER_STAGE: 2, Skip.NOT_A_DLQ_RECORD: 1}
    assert summary.read == 6 and summary.complete


def test_a_dlq_record_whose_origin_topic_is_gone_fails_and_is_left_to_resume(
    kafka_bootstrap: str, config: dict[str, Any], dlq_topic: tuple[str, str]
) -> None:
    origin, dlq = dlq_topic
    gone = f"test-gone-{uuid.uuid4().hex}"
    msgs = [
        InputMessage(topic=topic, partition=0, offset=0, key=b"k", value=b"v", timestamp_ms=0)
        for topic in (origin, gone, origin)
    ]
    produce(
        kafka_bootstrap,
        [dead_letter_record(m, dlq, "store", "e", attempts=1, now_ms=1) for m in msgs],
    )

    summary = replay_dlq(config, dlq)

    assert (summary.written, summary.failed) == (2, 1)
    assert not summary.complete
    assert summary.first_error == f"topic {gone} does not exist"
    assert [(r.partition, r.start, r.end) for r in summary.remaining] == [(0, 1, 3)]


def test_a_dry_run_counts_per_target_and_writes_nothing(
    kafka_bootstrap: str, config: dict[str, Any], new_topic: NewTopicFactory
) -> None:
    source, target = new_topic(partitions=2), new_topic(partitions=1)
    send(kafka_bootstrap, source, numbered(12))

    summary = replay_range(config, source, target, options=ReplayOptions(dry_run=True))

    assert summary.by_target == {target: 12}
    assert (summary.read, summary.written) == (12, 0)
    assert end_offsets(kafka_bootstrap, target) == {0: 0}


def test_replaying_a_topic_into_itself_stops_at_the_planned_end(
    kafka_bootstrap: str, config: dict[str, Any], new_topic: NewTopicFactory
) -> None:
    topic = new_topic(partitions=2)
    records = numbered(10)
    send(kafka_bootstrap, topic, records)

    summary = replay_range(config, topic, topic)

    assert summary.written == 10
    assert sorted(contents(kafka_bootstrap, topic)) == sorted(
        expected(records, replayed=False) + expected(records)
    )


def test_the_rate_limit_spreads_the_writes(
    kafka_bootstrap: str, config: dict[str, Any], new_topic: NewTopicFactory
) -> None:
    source, target = new_topic(partitions=2), new_topic(partitions=1)
    send(kafka_bootstrap, source, numbered(200))

    summary = replay_range(config, source, target, options=ReplayOptions(rate=100))

    assert summary.written == 200
    assert summary.elapsed_s >= 1.5
    assert summary.rate <= 110


def test_an_interrupted_replay_resumes_exactly_from_its_remaining_ranges(
    kafka_bootstrap: str, config: dict[str, Any], new_topic: NewTopicFactory
) -> None:
    source, target = new_topic(partitions=3), new_topic(partitions=1)
    records = numbered(300, partitions=3)
    send(kafka_bootstrap, source, records)
    stop = threading.Event()
    # At 200 records/s the copy needs about 1.5 s; it is stopped well before that.
    timer = threading.Timer(0.5, stop.set)
    timer.start()

    first = replay_range(config, source, target, options=ReplayOptions(rate=200, stop=stop))
    timer.cancel()

    assert first.interrupted and not first.complete
    assert 0 < first.written < 300
    assert sum(r.count for r in first.remaining) == 300 - first.written
    for left in first.remaining:
        spec = RangeSpec(start_offset=left.start, end_offset=left.end)
        assert replay_range(config, source, target, spec=spec, partitions=[left.partition]).complete
    assert contents(kafka_bootstrap, target) == expected(records)  # no gap, no duplicate


def test_mistakes_are_one_sentence(
    kafka_bootstrap: str, config: dict[str, Any], new_topic: NewTopicFactory
) -> None:
    source = new_topic(partitions=2)
    missing = f"test-missing-{uuid.uuid4().hex}"
    with pytest.raises(UserError, match=f"topic {missing} does not exist"):
        plan_replay(config, missing)
    with pytest.raises(UserError, match=f"topic {missing} does not exist"):
        plan_replay(config, source, target=missing)
    with pytest.raises(UserError, match="partition 5 does not exist"):
        plan_replay(config, source, partitions=[0, 5])
    with pytest.raises(UserError, match=f"{source} has no records"):
        plan_replay(config, source)
    base = time.time_ns() // 1_000_000 - 600_000
    send(kafka_bootstrap, source, numbered(4, base_ms=base))
    with pytest.raises(UserError, match="has no records at or after"):
        plan_replay(config, source, spec=RangeSpec(start_time_ms=base + 60_000))


def cli(settings: Settings, *args: str) -> tuple[int, str, BaseException | None]:
    app = typer.Typer()
    app.command("replay")(replay)
    app.callback()(lambda: None)
    result = CliRunner().invoke(app, ["replay", *args], obj=settings, env={"COLUMNS": "200"})
    return result.exit_code, result.output, result.exception


def test_the_command_copies_logical_topic_names_and_prints_a_summary(
    kafka_bootstrap: str, new_topic: NewTopicFactory
) -> None:
    source, target = new_topic(partitions=2), new_topic(partitions=1)
    send(kafka_bootstrap, source, numbered(6))
    # new_topic names are test-<hex>: with that prefix, the logical names are the bare hex.
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix="test-")
    )
    logical_source, logical_target = source.removeprefix("test-"), target.removeprefix("test-")

    code, output, error = cli(settings, logical_source, "--to", logical_target, "--dry-run")
    assert code == 0, (output, error)
    assert "would write" in output
    assert end_offsets(kafka_bootstrap, target) == {0: 0}

    code, output, error = cli(settings, logical_source, "--to", logical_target, "--yes")
    assert code == 0, (output, error)
    assert f"to {target}" in output
    assert len(read_to_end(kafka_bootstrap, target)) == 6

    _, _, error = cli(settings, logical_source, "--dlq", "--dry-run")
    assert isinstance(error, UserError)
    assert f"{source} is not a DLQ" in str(error)

    _, _, error = cli(settings, "no-such-topic", "--to", logical_target, "--yes")
    assert isinstance(error, UserError)
    assert "topic test-no-such-topic does not exist" in str(error)
