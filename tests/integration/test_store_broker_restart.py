"""The exactly-once store while its only broker restarts (SIGTERM, then SIGKILL for a crash):
the store keeps running through it, and every event is stored once with one `accepted`
outcome. Its open transaction cannot commit across the restart; the stage aborts it and reads
again from the committed offsets instead of stopping."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.integration.test_store_exactly_once import (
    EVENTS,
    assert_stored_once_with_one_outcome,
    store_env,
    store_input,
    stored_count,
)
from tests.support.kafka import SessionBroker
from tests.support.pipeline import caught_up
from tests.support.runtime import StageProcess, wait_for

pytestmark = pytest.mark.integration

RESTART_AFTER = 2_000


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "crash"])
def test_the_store_rides_out_a_broker_restart_and_owes_every_event_one_outcome(
    kafka_broker: SessionBroker, prefix: str, tmp_path: Path, crash: bool
) -> None:
    bootstrap = kafka_broker.bootstrap
    kafka, topic, events = store_input(bootstrap, prefix)
    database = tmp_path / "events.db"
    dsn = f"sqlite:///{database}"

    with StageProcess(store_env(bootstrap, prefix, dsn), tmp_path / "store.log", "store") as store:
        wait_for(lambda: stored_count(database) >= RESTART_AFTER, "events stored first", 60)
        if crash:
            kafka_broker.kill()
        else:
            kafka_broker.stop()
        assert stored_count(database) < EVENTS, "the store finished before the restart"
        kafka_broker.start()
        group = kafka.topic("pipeline-store")

        def committed_all() -> bool:
            assert store.proc.poll() is None, f"the store stopped:\n{store.log_tail()}"
            return caught_up(bootstrap, group, topic)

        # Committed by this process, not by a successor: it rode the restart out.
        wait_for(committed_all, "every input offset committed", 120)
        store.send(signal.SIGTERM)
        assert store.wait() == 0

    assert_stored_once_with_one_outcome(bootstrap, kafka, dsn, events)
