"""Issue 5: a DLQ replayed into its input after the cause was fixed is processed, exactly once.

The cause is a rolling deploy done in the wrong order: the edge already writes raw_event v2
while normalize still runs with a schemas directory that only knows v1. Normalize dead-letters
every v2 record (unknown writer fingerprint) and keeps processing v1 ones. Normalize is then
redeployed with the full schemas directory (symbolicate and store keep running), the operator
replays events.raw.dlq, and every event ends up stored once, with its original receive time.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.db import open_store
from pipeline.adapters.kafka.codec import Codec, SingleObjectCodec, load_catalog, make_codec
from pipeline.config import KafkaSettings, Settings
from pipeline.dev.artifacts import upload_demo
from pipeline.generator import EventFactory, Mix
from pipeline.replay import replay_dlq
from pipeline.runtime import dead_letter
from pipeline.runtime.messages import InputMessage, Produce
from pipeline.stages.outcomes import received_at_headers, wall_ms
from pipeline.stages.registry import resolve_stage
from tests.support.pipeline import (
    decode_all,
    end_offsets,
    pipeline_settings,
    produce,
    read_to_end,
    running,
    wait_until_done,
)

pytestmark = pytest.mark.integration

PROJECTS = 2
NEW_EDGE_EVENTS = 30  # written as raw_event v2: dead-lettered by the outdated normalize
OLD_EDGE_EVENTS = 20  # written as raw_event v1: readable all along
V2_ONLY_FIELDS = ("remote_addr", "content_type")


def outdated_schemas(tmp_path: Path) -> Path:
    """The schemas directory as the outdated normalize deployment shipped it: no raw_event v2."""
    directory = tmp_path / "schemas-without-raw-event-v2"
    shutil.copytree(KafkaSettings().schemas_dir, directory)
    (directory / "raw_event" / "v2.avsc").unlink()
    return directory


def generated_events(count: int, seed: int) -> list[dict[str, Any]]:
    """Realistic raw_event records (Python, JS and Node errors, messages), none invalid."""
    factory = EventFactory(
        Mix(projects=PROJECTS, invalid_ratio=0, duplicate_ratio=0), random.Random(seed)
    )
    now = wall_ms()
    return [generated.record for _ in range(count) for generated in factory.next(now)]


def raw_records(codec: Codec, topic: str, events: list[dict[str, Any]]) -> list[Produce]:
    return [
        Produce(
            topic,
            codec.encode("raw_event", event, topic),
            key=event["event_id"].encode(),
            headers=received_at_headers(event["received_at_ms"]),
        )
        for event in events
    ]


def header(record: InputMessage, name: str) -> str:
    value = record.header(name)
    assert value is not None, f"DLQ record at offset {record.offset} has no {name} header"
    return value.decode()


def test_dead_letters_replayed_after_the_fix_are_stored_exactly_once(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path)
    kafka = settings.kafka
    outdated_kafka = kafka.model_copy(update={"schemas_dir": outdated_schemas(tmp_path)})
    outdated = settings.model_copy(update={"kafka": outdated_kafka})
    upload_demo(ArtifactStore(settings.symbolicate.artifacts_dir), PROJECTS)
    raw_topic, dlq_topic = kafka.topic("events.raw"), kafka.topic("events.raw.dlq")

    new_edge = generated_events(NEW_EDGE_EVENTS, seed=5)
    old_edge = [
        {k: v for k, v in event.items() if k not in V2_ONLY_FIELDS}
        for event in generated_events(OLD_EDGE_EVENTS, seed=6)
    ]
    new_ids = {e["event_id"] for e in new_edge}
    old_ids = {e["event_id"] for e in old_edge}
    assert len(new_ids | old_ids) == NEW_EDGE_EVENTS + OLD_EDGE_EVENTS
    v1_codec = SingleObjectCodec(load_catalog(outdated_kafka.schemas_dir))
    sent = raw_records(make_codec(kafka), raw_topic, new_edge)
    sent += raw_records(v1_codec, raw_topic, old_edge)
    random.Random(7).shuffle(sent)
    produce(kafka_bootstrap, sent)

    downstream = [(resolve_stage(name, settings), settings) for name in ("symbolicate", "store")]
    with running(*downstream):
        normalize = resolve_stage("normalize", outdated)
        with running((normalize, outdated)) as (broken,):
            for spec, _ in [(normalize, outdated), *downstream]:
                wait_until_done(kafka_bootstrap, spec)
            assert broken.metric("pipeline_dlq_messages_total") == NEW_EDGE_EVENTS
        dead = read_to_end(kafka_bootstrap, dlq_topic)
        assert stored_ids(settings) == old_ids

        fixed = resolve_stage("normalize", settings)
        with running((fixed, settings)) as (repaired,):
            summary = replay_dlq({"bootstrap.servers": kafka_bootstrap}, dlq_topic)
            for spec, _ in [(fixed, settings), *downstream]:
                wait_until_done(kafka_bootstrap, spec)
            assert repaired.metric("pipeline_dlq_messages_total") == 0

    assert_dead_letters(dead, sent, raw_topic)
    assert summary.complete, summary.first_error
    assert (summary.read, summary.written) == (NEW_EDGE_EVENTS, NEW_EDGE_EVENTS)
    assert dict(summary.by_target) == {raw_topic: NEW_EDGE_EVENTS}
    assert sum(end_offsets(kafka_bootstrap, dlq_topic).values()) == NEW_EDGE_EVENTS
    assert sum(end_offsets(kafka_bootstrap, raw_topic).values()) == len(sent) + NEW_EDGE_EVENTS

    dead_at = {r.key.decode(): int(header(r, dead_letter.TIME_HEADER)) for r in dead if r.key}
    assert_stored_once(settings, new_edge + old_edge, dead_at)
    assert_outcomes(kafka_bootstrap, settings, new_ids, old_ids)


def stored_ids(settings: Settings) -> set[str]:
    store = open_store(settings.store.dsn)
    try:
        return {e.event_id for e in store.list_events(limit=100_000)}
    finally:
        store.close()


def assert_dead_letters(dead: list[InputMessage], sent: list[Produce], raw_topic: str) -> None:
    """Every v2 record, byte for byte, with headers that say where it came from and why."""
    originals = {record.key: record for record in sent}
    assert len(dead) == NEW_EDGE_EVENTS
    for record in dead:
        original = originals[record.key]
        assert record.value == original.value
        assert record.header("received_at_ms") == original.headers[0][1]
        assert header(record, dead_letter.ORIGIN_TOPIC_HEADER) == raw_topic
        assert int(header(record, dead_letter.ORIGIN_PARTITION_HEADER)) >= 0
        assert int(header(record, dead_letter.ORIGIN_OFFSET_HEADER)) >= 0
        assert header(record, dead_letter.STAGE_HEADER) == "normalize"
        assert "unknown writer schema fingerprint" in header(record, dead_letter.ERROR_HEADER)
        assert int(header(record, dead_letter.ATTEMPTS_HEADER)) >= 1
        assert int(header(record, dead_letter.TIME_HEADER)) > 0
    origins = {
        (
            header(r, dead_letter.ORIGIN_PARTITION_HEADER),
            header(r, dead_letter.ORIGIN_OFFSET_HEADER),
        )
        for r in dead
    }
    assert len(origins) == NEW_EDGE_EVENTS


def assert_stored_once(
    settings: Settings, events: list[dict[str, Any]], dead_at: dict[str, int]
) -> None:
    """Each event once, with the edge's receive time; replayed ones normalized after the DLQ."""
    store = open_store(settings.store.dsn)
    try:
        summaries = store.list_events(limit=100_000)
        assert sorted(s.event_id for s in summaries) == sorted(e["event_id"] for e in events)
        assert sum(g.times_seen for g in store.list_groups(limit=100_000)) == len(events)
        for event in events:
            stored = store.get_event(event["project_id"], event["event_id"])
            assert stored is not None, event["event_id"]
            assert stored.summary.received_at_ms == event["received_at_ms"]
            times = stored.record["stage_times_ms"]
            assert set(times) == {"normalize", "symbolicate", "store"}
            if event["event_id"] in dead_at:
                assert times["normalize"] >= dead_at[event["event_id"]]
    finally:
        store.close()


def assert_outcomes(
    bootstrap: str, settings: Settings, new_ids: set[str], old_ids: set[str]
) -> None:
    """Accepted once per event; the dead-lettered ones also keep their first invalid outcome."""
    records = read_to_end(bootstrap, settings.kafka.topic("outcomes"))
    outcomes = decode_all(make_codec(settings.kafka), "outcome", records)
    seen = Counter((o["outcome"], o["reason"], o["stage"], o["event_id"]) for o in outcomes)
    expected: Counter[tuple[str, str | None, str, str]] = Counter(
        ("accepted", None, "store", i) for i in new_ids | old_ids
    )
    expected.update(("invalid", "undecodable", "normalize", i) for i in new_ids)
    assert seen == expected
