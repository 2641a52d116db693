"""GroupOffsetsReader against a real broker: what a group committed, what it still has to do,
and nothing committed or joined by reading."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.adapters.kafka.group_offsets import GroupOffsetsReader
from pipeline.config import PROJECT_ROOT
from tests.support.kafka import NewTopicFactory, SessionBroker
from tests.support.runtime import produce

pytestmark = pytest.mark.integration

POLL_S = 25  # past the restart and the group coordinator's reload


def commit(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def test_committed_offsets_and_lag_count_uncommitted_partitions_from_their_start(
    kafka_bootstrap: str, new_topic: NewTopicFactory, group_id: str, admin: AdminClient
) -> None:
    topic = new_topic(partitions=3)
    produce(kafka_bootstrap, topic, [(0, b"a")] * 10 + [(1, b"b")] * 5)
    commit(kafka_bootstrap, group_id, [TopicPartition(topic, 0, 4)])

    with GroupOffsetsReader({"bootstrap.servers": kafka_bootstrap}) as reader:
        assert reader.committed(group_id, topic, [0, 1, 2]) == {0: 4}
        offsets = reader.read(group_id, topic)

    assert offsets.high == {0: 10, 1: 5, 2: 0}
    assert offsets.committed == {0: 4, 1: 0, 2: 0}
    assert offsets.lag == 6 + 5
    assert admin.describe_consumer_groups([group_id])[group_id].result(30).members == []


def test_a_group_that_never_committed_owes_the_whole_topic(
    kafka_bootstrap: str, new_topic: NewTopicFactory, group_id: str
) -> None:
    topic = new_topic(partitions=2)
    produce(kafka_bootstrap, topic, [(0, b"a")] * 3 + [(1, b"b")] * 2)

    with GroupOffsetsReader({"bootstrap.servers": kafka_bootstrap}) as reader:
        offsets = reader.read(group_id, topic)

    assert offsets.committed == {0: 0, 1: 0}
    assert offsets.lag == 5
    assert offsets.done == 0


def test_reading_through_a_broker_crash_and_restart_keeps_the_process_alive(
    kafka_broker: SessionBroker, new_topic: NewTopicFactory, group_id: str
) -> None:
    """librdkafka's admin ListConsumerGroupOffsets aborted or segfaulted 11 of 12 processes
    polling like this (`--admin`); every lag monitor, the status page and `pipeline cohorts`
    read through the reader instead."""
    bootstrap = kafka_broker.bootstrap
    topic = new_topic(partitions=1)
    commit(bootstrap, group_id, [TopicPartition(topic, 0, 7)])
    command = [sys.executable, "-m", "tests.support.offsets_poller", bootstrap, group_id, topic]
    pollers = [
        subprocess.Popen([*command, str(POLL_S)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    time.sleep(2)  # reads in flight when the broker dies
    kafka_broker.kill()
    kafka_broker.start()

    for poller in pollers:
        out, _ = poller.communicate(timeout=POLL_S + 60)
        assert poller.returncode == 0, f"the reading process died ({poller.returncode})"
        report = json.loads(out)
        assert report["last"] == {"0": 7}, report
