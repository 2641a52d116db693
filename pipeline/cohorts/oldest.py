"""How old the oldest unprocessed event of each stage is, from its group's committed offsets.

The message at a partition's committed offset is the first one the group has not finished; its
receive time (header, else broker timestamp) gives the age. Backlog-drain groups commit to the
ledger, not to Kafka, so their ranges are left to `pipeline backlog`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

from confluent_kafka import Consumer, KafkaException, TopicPartition

from pipeline.adapters.kafka.group_offsets import GroupOffsetsReader
from pipeline.runtime.messages import Headers, received_at


def oldest_unprocessed_age_s(
    consumer_config: dict[str, Any],
    groups: Mapping[str, tuple[str, str]],
    now_ms: int,
    timeout_s: float = 5.0,
) -> dict[str, float | None]:
    """Per stage (``stage -> (group, input topic)``): seconds, or None when nothing waits."""
    reader = GroupOffsetsReader(consumer_config)
    consumer = Consumer(
        {
            **consumer_config,
            "group.id": f"pipeline-reader-{uuid.uuid4().hex[:8]}",  # never joined or committed
            "enable.auto.commit": False,
        }
    )
    try:
        return {
            stage: _oldest(reader, consumer, group, topic, now_ms, timeout_s)
            for stage, (group, topic) in groups.items()
        }
    finally:
        consumer.close()
        reader.close()


def _oldest(
    reader: GroupOffsetsReader,
    consumer: Consumer,
    group: str,
    topic: str,
    now_ms: int,
    timeout_s: float,
) -> float | None:
    try:
        offsets = reader.read(group, topic, timeout_s)
    except (KafkaException, KeyError):
        return None
    waiting = [
        TopicPartition(topic, p, offsets.committed[p])
        for p, high in offsets.high.items()
        if offsets.committed.get(p, 0) < high
    ]
    if not waiting:
        return None
    consumer.assign(waiting)
    oldest: int | None = None
    found: set[int] = set()
    for _ in range(int(timeout_s / 0.2)):
        for msg in consumer.consume(num_messages=len(waiting), timeout=0.2):
            partition = msg.partition()
            if msg.error() is not None or partition in found or partition is None:
                continue
            found.add(partition)
            stamp = msg.timestamp()[1]
            headers = cast(Headers, msg.headers() or ())
            received = received_at(headers, stamp)
            oldest = received if oldest is None else min(oldest, received)
        if len(found) == len(waiting):
            break
    consumer.unassign()
    return None if oldest is None else max(0.0, (now_ms - oldest) / 1000)
