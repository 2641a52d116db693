"""Read a compacted topic from its beginning to the high watermarks of the moment.

A snapshot of "the latest value per key", as `pipeline cohorts` and the status page need it:
stop at the watermarks taken when reading starts, since writers keep appending.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from pipeline.errors import UserError


class TopicUnreadable(UserError):
    """The topic is missing, or could not be read to its end in time."""


def read_latest(
    consumer_config: dict[str, Any], topic: str, timeout_s: float = 10.0
) -> dict[bytes, bytes]:
    """The newest value of every key still present (a tombstone removes its key)."""
    consumer = Consumer(
        {
            **consumer_config,
            "group.id": f"pipeline-reader-{uuid.uuid4().hex[:8]}",  # never joined or committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        return _read(consumer, topic, timeout_s)
    except KafkaException as exc:
        raise TopicUnreadable(f"topic {topic} cannot be read: {exc.args[0]}") from None
    finally:
        consumer.close()


def _read(consumer: Consumer, topic: str, timeout_s: float) -> dict[bytes, bytes]:
    deadline = time.monotonic() + timeout_s
    found = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise TopicUnreadable(f"topic {topic} does not exist: run `pipeline topics apply`")
    targets: dict[int, int] = {}
    for partition in found.partitions:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s, cached=False
        )
        if high > low:
            targets[partition] = high
    latest: dict[bytes, bytes] = {}
    if not targets:
        return latest
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in targets])
    next_offset: dict[int, int] = {}
    while any(next_offset.get(p, 0) < high for p, high in targets.items()):
        if time.monotonic() >= deadline:
            raise TopicUnreadable(f"topic {topic} could not be read to its end in {timeout_s:.0f}s")
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            error = msg.error()
            partition = msg.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    next_offset[partition] = max(next_offset.get(partition, 0), msg.offset() or 0)
                    continue
                raise KafkaException(error)
            next_offset[partition] = (msg.offset() or 0) + 1
            key, value = msg.key() or b"", msg.value()
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = value
    return latest
