"""Where a partition's retained data begins: below the low watermark it has expired."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, TopicPartition


class Watermarks:
    """Asks the broker (never a cache): expiry is exactly what a stale answer would hide."""

    def __init__(self, consumer_config: dict[str, Any], timeout_s: float) -> None:
        self._consumer = Consumer(
            {**consumer_config, "group.id": "pipeline.watermarks", "enable.auto.commit": False}
        )
        self._timeout_s = timeout_s

    def low(self, topic: str, partition: int) -> int:
        """Raises KafkaException when the broker does not answer in time."""
        low, _ = self._consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=self._timeout_s, cached=False
        )
        return int(low)

    def close(self) -> None:
        self._consumer.close()
