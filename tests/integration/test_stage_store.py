"""The store stage alone on a real broker: symbolicated events into SQLite and PostgreSQL,
``accepted`` outcomes only for events newly stored, and a database outage that pauses
consumption without losing or double-counting anything."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.db import open_store
from pipeline.adapters.kafka.codec import Codec, make_codec
from pipeline.config import Settings
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import wall_ms
from pipeline.stages.store.settings import StoreSettings
from pipeline.stages.store.stage import store_stage
from tests.support.pipeline import (
    RunningStage,
    as_record,
    caught_up,
    decode_all,
    pipeline_settings,
    processed_event,
    produce,
    read_to_end,
    running,
    wait_for,
    wait_until_done,
)
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration

PROJECT = 5


def events(count: int, received_at_ms: int) -> list[dict[str, Any]]:
    """Events in a few groups (the message's number modulo 3 survives grouping's masking)."""
    kinds = ("timeout", "refused", "reset")
    return [
        processed_event(PROJECT, {"message": f"upstream {kinds[n % 3]}"}, received_at_ms)
        for n in range(count)
    ]


def records(codec: Codec, settings: Settings, batch: list[dict[str, Any]]) -> list[Produce]:
    topic = settings.kafka.topic("events.symbolicated")
    return [as_record(codec, topic, event) for event in batch]


def stored_ids(dsn: str) -> list[str]:
    store = open_store(dsn)
    try:
        return [e.event_id for e in store.list_events(project_id=PROJECT, limit=100_000)]
    finally:
        store.close()


def times_seen(dsn: str) -> int:
    store = open_store(dsn)
    try:
        return sum(g.times_seen for g in store.list_groups(project_id=PROJECT, limit=1000))
    finally:
        store.close()


def all_outcomes(codec: Codec, settings: Settings, bootstrap: str) -> list[dict[str, Any]]:
    return decode_all(codec, "outcome", read_to_end(bootstrap, settings.kafka.topic("outcomes")))


def test_events_are_stored_once_and_accepted_once(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path)
    codec = make_codec(settings.kafka)
    received = wall_ms() - 500
    batch = events(30, received)
    unstorable = {**batch[0], "event_id": ""}  # valid Avro, but no id to store it under
    topic = settings.kafka.topic("events.symbolicated")
    produce(
        kafka_bootstrap,
        [
            *records(codec, settings, batch),
            as_record(codec, topic, batch[3]),  # redelivered: stored once, accepted once
            as_record(codec, topic, unstorable),
            Produce(topic, b"not avro", key=b"k"),
        ],
    )

    spec = store_stage(settings)
    with running((spec, settings)):
        wait_until_done(kafka_bootstrap, spec)

    dsn = settings.store.dsn
    ids = {e["event_id"] for e in batch}
    assert sorted(stored_ids(dsn)) == sorted(ids)
    assert times_seen(dsn) == len(ids)
    store = open_store(dsn)
    try:
        stored = store.get_event(PROJECT, batch[5]["event_id"])
    finally:
        store.close()
    assert stored is not None
    assert set(stored.record["stage_times_ms"]) == {"normalize", "store"}

    outcomes = all_outcomes(codec, settings, kafka_bootstrap)
    accepted = [o for o in outcomes if o["outcome"] == "accepted"]
    assert sorted(o["event_id"] for o in accepted) == sorted(ids)
    assert {(o["stage"], o["project_id"], o["received_at_ms"]) for o in accepted} == {
        ("store", PROJECT, received)
    }
    invalid = sorted(
        (o["event_id"], o["project_id"], o["reason"]) for o in outcomes if o["outcome"] == "invalid"
    )
    assert invalid == [("", PROJECT, "unstorable"), ("k", 0, "undecodable")]
    dead = read_to_end(kafka_bootstrap, settings.kafka.topic("events.symbolicated.dlq"))
    assert sorted(d.value or b"" for d in dead) == sorted(
        [b"not avro", records(codec, settings, [unstorable])[0].value or b""]
    )


@pytest.mark.postgres
def test_a_database_outage_pauses_consumption_and_loses_nothing(
    kafka_bootstrap: str,
    prefix: str,
    tmp_path: Path,
    postgres_server: PostgresServer,
    postgres_database: str,
) -> None:
    store = StoreSettings(dsn=postgres_database, timeout_s=2.0, batch_max_wait_s=0.05)
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path, store=store)
    codec = make_codec(settings.kafka)
    received = wall_ms()
    before, during, after = events(100, received), events(100, received), events(50, received)
    spec = store_stage(settings)

    def paused_partitions(stage: RunningStage) -> float:
        return stage.metric("pipeline_paused_partitions")

    with running((spec, settings)) as (stage,):
        produce(kafka_bootstrap, records(codec, settings, before))
        wait_until_done(kafka_bootstrap, spec)
        assert len(stored_ids(postgres_database)) == len(before)

        postgres_server.stop()
        produce(kafka_bootstrap, records(codec, settings, during))
        wait_for(
            lambda: stage.metric("pipeline_pauses_total", reason="sink_unavailable") >= 1,
            "the stage to pause for the unavailable database",
        )
        wait_for(lambda: paused_partitions(stage) == 4, "all four partitions to be paused")
        consumed = stage.metric_sum("pipeline_consumed_messages_total")
        produce(kafka_bootstrap, records(codec, settings, after))  # arrives while paused
        assert not caught_up(kafka_bootstrap, spec.group_id, spec.input_topic)
        # Absence needs a bounded look: the consumed counter is published once a second.
        with pytest.raises(AssertionError):
            wait_for(
                lambda: stage.metric_sum("pipeline_consumed_messages_total") > consumed,
                "a paused stage to consume",
                timeout_s=2.5,
            )

        postgres_server.start()
        wait_until_done(kafka_bootstrap, spec)
        wait_for(lambda: paused_partitions(stage) == 0, "the partitions to resume")
        assert stage.metric("pipeline_sink_unavailable") == 0

    everything = before + during + after
    ids = sorted(e["event_id"] for e in everything)
    assert sorted(stored_ids(postgres_database)) == ids
    assert times_seen(postgres_database) == len(ids)
    outcomes = all_outcomes(codec, settings, kafka_bootstrap)
    assert {o["outcome"] for o in outcomes} == {"accepted"}
    counts = Counter(o["event_id"] for o in outcomes)
    assert sorted(counts) == ids
    assert set(counts.values()) == {1}
    assert read_to_end(kafka_bootstrap, settings.kafka.topic("events.symbolicated.dlq")) == []
