"""Reads a group's committed offsets in a tight loop for a while, in its own process, so a
client library crash shows as an exit code instead of killing the test session.

``python -m tests.support.offsets_poller BOOTSTRAP GROUP TOPIC SECONDS [--admin]``; prints one
JSON line ``{"reads": n, "errors": n, "last": {partition: offset}}``. ``--admin`` reads through
librdkafka's admin API instead of GroupOffsetsReader: the comparison that shows why the reader
exists.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.adapters.kafka.group_offsets import GroupOffsetsReader


def main(bootstrap: str, group: str, topic: str, seconds: float, admin_api: bool) -> None:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap}
    admin, reader = AdminClient(config), GroupOffsetsReader(config)
    reads = errors = 0
    last: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if admin_api:
                request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
                listed = admin.list_consumer_group_offsets(request, request_timeout=5)
                found = listed[group].result(30).topic_partitions or []
                last = {tp.partition: tp.offset for tp in found}
            else:
                last = reader.committed(group, topic, [0], timeout=5)
            reads += 1
        except (KafkaException, TimeoutError):
            errors += 1
        time.sleep(0.01)
    reader.close()
    print(json.dumps({"reads": reads, "errors": errors, "last": last}), flush=True)


if __name__ == "__main__":
    bootstrap, group, topic, seconds = sys.argv[1:5]
    main(bootstrap, group, topic, float(seconds), "--admin" in sys.argv[5:])
