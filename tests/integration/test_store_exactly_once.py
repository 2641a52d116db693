"""`pipeline run store` killed with SIGKILL between two commits, then restarted: the messages
after the last commit are read and written again, and still every event has exactly one
`accepted` outcome (outcomes and offsets commit in one Kafka transaction)."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.db import open_store
from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import KafkaSettings
from pipeline.stages.outcomes import wall_ms
from tests.support.pipeline import (
    as_record,
    committed_offsets,
    decode_all,
    processed_event,
    produce,
    read_to_end,
)
from tests.support.runtime import StageProcess, free_port, wait_for

pytestmark = pytest.mark.integration

PROJECT = 41
EVENTS = 20_000
"""Many more than KILL_AFTER: a store that decodes on its sink thread stored 6,000 between the
poll that saw 1,500 and the kill."""
KILL_AFTER = 1500
COMMIT_INTERVAL_S = 3.0
"""Long, so the kill lands well after the last commit with many outcomes out since."""


def store_env(bootstrap: str, prefix: str, dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    return env | {
        "PIPELINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "PIPELINE_KAFKA__TOPIC_PREFIX": prefix,
        "PIPELINE_STORE__DSN": dsn,
        "PIPELINE_STORE__BATCH_SIZE": "50",
        "PIPELINE_RUNTIME__COMMIT_INTERVAL_S": str(COMMIT_INTERVAL_S),
        "PIPELINE_RUNTIME__HTTP_PORT": str(free_port()),
        "PIPELINE_OBSERVABILITY__LOG_FORMAT": "json",
    }


def stored_count(path: Path) -> int:
    """Cheap enough to poll: the kill must follow the threshold closely. 0 until the store
    has created its database (read-only: polling must not create the file first)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM events WHERE project_id = ?", (PROJECT,)
            ).fetchone()
    except sqlite3.OperationalError:  # no file or no table yet
        return 0
    return int(count)


def stored(dsn: str) -> list[str]:
    store = open_store(dsn)
    try:
        return [e.event_id for e in store.list_events(project_id=PROJECT, limit=EVENTS * 2)]
    finally:
        store.close()


def store_input(bootstrap: str, prefix: str) -> tuple[KafkaSettings, str, list[dict[str, Any]]]:
    """EVENTS symbolicated events on the store's input topic."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    topic = kafka.topic("events.symbolicated")
    received = wall_ms()
    events = [
        processed_event(PROJECT, {"message": f"job {n % 7}"}, received) for n in range(EVENTS)
    ]
    codec = make_codec(kafka)  # once: building one per record took 70 of the test's 85 s
    produce(bootstrap, [as_record(codec, topic, e) for e in events])
    return kafka, topic, events


def assert_stored_once_with_one_outcome(
    bootstrap: str, kafka: KafkaSettings, dsn: str, events: list[dict[str, Any]]
) -> None:
    ids = stored(dsn)
    assert Counter(ids) == Counter(e["event_id"] for e in events), "lost or stored twice"
    records = read_to_end(bootstrap, kafka.topic("outcomes"))
    outcomes = decode_all(make_codec(kafka), "outcome", records)
    accepted = Counter(o["event_id"] for o in outcomes if o["outcome"] == "accepted")
    assert {o["outcome"] for o in outcomes} == {"accepted"}
    twice = [event_id for event_id, count in accepted.items() if count > 1]
    assert not twice, f"{len(twice)} events accepted more than once (e.g. {twice[:3]})"
    assert set(accepted) == set(ids), f"{len(set(ids) - set(accepted))} events without outcome"


def test_a_store_killed_between_commits_owes_every_event_exactly_one_outcome(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    kafka, topic, events = store_input(kafka_bootstrap, prefix)
    database = tmp_path / "events.db"
    dsn = f"sqlite:///{database}"
    env = store_env(kafka_bootstrap, prefix, dsn)
    store = "store"

    with StageProcess(env, tmp_path / "killed.log", store) as first:
        wait_for(lambda: stored_count(database) >= KILL_AFTER, "events stored before the kill", 60)
        first.proc.kill()
        assert first.wait() == -signal.SIGKILL
    before_restart = len(stored(dsn))
    assert before_restart < EVENTS, "the store finished before it was killed"
    committed = sum(
        max(0, offset)
        for offset in committed_offsets(
            kafka_bootstrap, kafka.topic("pipeline-store"), topic
        ).values()
    )
    assert committed < before_restart, "no stored event is read again: nothing was tested"

    with StageProcess(env, tmp_path / "restarted.log", store) as second:
        wait_for(
            lambda: stored_count(database) >= EVENTS, "every event stored after the restart", 90
        )
        second.send(signal.SIGTERM)
        assert second.wait() == 0

    assert_stored_once_with_one_outcome(kafka_bootstrap, kafka, dsn, events)
