"""The exactly-once store when the coordinator times its transactions out, as it does when an
outage holds a commit past transaction.timeout.ms: the coordinator aborts the transaction and
fences the producer, the store registers its id again and reads again, and every event is still
stored once with one `accepted` outcome."""

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
)
from tests.support.pipeline import as_record, caught_up, processed_event, produce
from tests.support.runtime import StageProcess, wait_for

pytestmark = pytest.mark.integration

TRANSACTION_TIMEOUT_MS = 1000
"""Below the store's commit interval (3 s): a transaction open at the coordinator's next cleanup
pass (every 10 s by default) is timed out, and the producer that then ends it is fenced."""
FENCED_WITHIN_S, BATCH, EVERY_S = 90, 40, 0.25


def test_a_store_fenced_by_transaction_timeouts_registers_again_and_owes_one_outcome(
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
        # A trickle keeps a transaction open most of the time, across cleanup passes, until
        # one of them has fenced the store.
        fenced = "runtime.transactions_registered_again"
        until = time.monotonic() + FENCED_WITHIN_S
        while not store.has_event(fenced):
            assert time.monotonic() < until, f"never fenced:\n{store.log_tail()}"
            batch = [
                processed_event(PROJECT, {"message": f"job {n}"}, wall_ms()) for n in range(BATCH)
            ]
            produce(kafka_bootstrap, [as_record(codec, topic, e) for e in batch])
            events += batch
            assert store.proc.poll() is None, f"the store stopped:\n{store.log_tail()}"
            time.sleep(EVERY_S)

        def committed_all() -> bool:
            assert store.proc.poll() is None, f"the store stopped:\n{store.log_tail()}"
            return caught_up(kafka_bootstrap, kafka.topic("pipeline-store"), topic)

        wait_for(committed_all, "every input offset committed", 120)
        store.send(signal.SIGTERM)
        assert store.wait() == 0

    assert_stored_once_with_one_outcome(kafka_bootstrap, kafka, dsn, events)
