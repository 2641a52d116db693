"""Reading a topic by `assign`: replay never joins a group and never commits an offset."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from pipeline.errors import UserError
from pipeline.replay.ranges import PartitionRange, Watermarks
from pipeline.runtime.clients import client_id


class ReplaySource:
    def __init__(self, client_config: Mapping[str, Any], timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._bootstrap = client_config.get("bootstrap.servers")
        self._consumer = Consumer(
            {
                **client_config,
                # librdkafka insists on a group id; with assign() and no commits it never
                # reaches the broker, so no group's offsets can move.
                "group.id": f"pipeline-replay-{uuid.uuid4().hex}",
                "client.id": client_id("replay"),
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # Data deleted by retention since planning: continue at the oldest retained.
                "auto.offset.reset": "earliest",
                # An EOF event ends a partition whose last offsets are transaction markers.
                "enable.partition.eof": True,
            }
        )
        self._partitions: dict[str, list[int] | None] = {}

    def partitions(self, topic: str) -> list[int] | None:
        """The topic's partition ids, or None when it does not exist (cached)."""
        if topic not in self._partitions:
            with self._kafka_errors(f"describe topic {topic}"):
                metadata = self._consumer.list_topics(topic, timeout=self._timeout_s)
            found = metadata.topics.get(topic)
            exists = found is not None and found.error is None
            self._partitions[topic] = sorted(found.partitions) if exists else None
        return self._partitions[topic]

    def require(self, topic: str) -> list[int]:
        partitions = self.partitions(topic)
        if partitions is None:
            raise UserError(f"topic {topic} does not exist")
        return partitions

    def watermarks(self, topic: str, partitions: Iterable[int]) -> dict[int, Watermarks]:
        marks = {}
        for partition in partitions:
            with self._kafka_errors(f"give the offsets of {topic} [{partition}]"):
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=self._timeout_s
                )
            marks[partition] = Watermarks(low, high)
        return marks

    def offsets_at(
        self, topic: str, partitions: Sequence[int], times_ms: Iterable[int]
    ) -> dict[int, dict[int, int]]:
        """``{time_ms: {partition: first offset at or after it, or -1}}``."""
        found: dict[int, dict[int, int]] = {}
        for time_ms in set(times_ms):
            query = [TopicPartition(topic, p, time_ms) for p in partitions]
            with self._kafka_errors(f"find the offsets of {topic} for a time"):
                answer = self._consumer.offsets_for_times(query, timeout=self._timeout_s)
                for tp in answer:
                    if tp.error is not None:
                        raise KafkaException(tp.error)
            found[time_ms] = {tp.partition: tp.offset for tp in answer}
        return found

    def assign(self, topic: str, ranges: Iterable[PartitionRange]) -> None:
        self._consumer.assign([TopicPartition(topic, r.partition, r.start) for r in ranges])

    def pause(self, topic: str, partition: int) -> None:
        self._consumer.pause([TopicPartition(topic, partition)])

    def consume(self, max_records: int, timeout_s: float) -> list[Message]:
        return self._consumer.consume(max_records, timeout=timeout_s)

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> ReplaySource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _kafka_errors(self, action: str) -> Iterator[None]:
        """A broker that cannot answer is the user's to fix (address, network, ACLs)."""
        try:
            yield
        except KafkaException as exc:
            raise UserError(f"Kafka at {self._bootstrap} could not {action}: {exc}") from None
