"""The exactly-once store when the coordinator times its transaction out, as it does when an
outage or a pause holds a commit past transaction.timeout.ms: the coordinator aborts the
transaction and fences the producer, the store registers its id again and reads again, and
every event is still stored once with one `accepted` outcome."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import KafkaSettings
from pipeline.stages.outcomes import wall_ms
from tests.integration.test_store_exactly_once import (
    PROJECT,
    assert_stored_once_with_one_outcome,
    store_env,
    stored_count,
)
from tests.support.pipeline import as_record, caught_up, processed_event, produce
from tests.support.runtime import StageProcess, wait_for

pytestmark = pytest.mark.integration

TRANSACTION_TIMEOUT_MS = 1000
FROZEN_S = 13
"""Longer than the timeout plus the coordinator's cleanup interval (10 s by default): the frozen
store's open transaction is timed out for certain, as after a long pause or a frozen VM."""
BATCH, EVERY_S = 40, 0.25


def test_a_store_frozen_past_its_transaction_timeout_carries_on_and_owes_one_outcome(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    topic, codec = kafka.topic("events.symbolicated"), make_codec(kafka)
    database = tmp_path / "events.db"
    dsn = f"sqlite:///{database}"
    client_config = {"transaction.timeout.ms": TRANSACTION_TIMEOUT_MS}
    env = store_env(kafka_bootstrap, prefix, dsn) | {
        "PIPELINE_KAFKA__CLIENT_CONFIG": json.dumps(client_config)
    }
    events: list[dict[str, Any]] = []

    with StageProcess(env, tmp_path / "store.log", "store") as store:

        def trickle(seconds: float) -> None:
            """Input all along, so the store holds a transaction open when it is frozen."""
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                batch = [
                    processed_event(PROJECT, {"message": f"job {n}"}, wall_ms())
                    for n in range(BATCH)
                ]
                produce(kafka_bootstrap, [as_record(codec, topic, e) for e in batch])
                events.extend(batch)
                time.sleep(EVERY_S)

        trickle(3)
        wait_for(lambda: stored_count(database) > 0, "the store at work before the freeze", 60)
        trickle(1)
        store.send(signal.SIGSTOP)
        trickle(FROZEN_S)
        store.send(signal.SIGCONT)
        trickle(3)

        def committed_all() -> bool:
            assert store.proc.poll() is None, f"the store stopped:\n{store.log_tail()}"
            return caught_up(kafka_bootstrap, kafka.topic("pipeline-store"), topic)

        wait_for(committed_all, "every input offset committed", 120)
        store.send(signal.SIGTERM)
        assert store.wait() == 0
        # librdkafka reports the timed-out transaction as fenced (registered again) or, when it
        # can bump the epoch itself, as abortable (aborted and read again).
        recovered = ("runtime.transactions_registered_again", "runtime.transaction_aborted")
        assert any(store.has_event(e) for e in recovered), "no transaction was timed out"

    assert_stored_once_with_one_outcome(kafka_bootstrap, kafka, dsn, events)
