"""Where a consumer group stands on a topic: its committed offsets and the high-water marks.

Committed offsets are read through a consumer handle that carries the group's id but never joins
or commits, not through the admin API: librdkafka's ListConsumerGroupOffsets dereferences the
group handle an admin client does not have when the coordinator answers NOT_COORDINATOR
(librdkafka#5040): SIGSEGV, or SIGABRT on a failed refcount assertion, in 11 of 12 processes
polling it through a broker restart. A consumer handle looks the coordinator up again and
retries, as a member does; it survived every such restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


@dataclass(frozen=True)
class GroupOffsets:
    """Per partition; a partition the group never committed counts from its low watermark (all
    of it is still to do)."""

    committed: dict[int, int]
    high: dict[int, int]

    @property
    def lag(self) -> int:
        return sum(max(0, high - self.committed.get(p, 0)) for p, high in self.high.items())

    @property
    def done(self) -> int:
        """Committed offsets summed over partitions: its increase is the group's throughput."""
        return sum(self.committed.values())


class GroupOffsetsReader:
    """One admin client for watermarks and one idle consumer handle per group read; one thread
    at a time. ``close`` releases them."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)
        self._admin = AdminClient(self._config)
        self._handles: dict[str, Consumer] = {}

    def read(self, group: str, topic: str, timeout: float = 10.0) -> GroupOffsets:
        partitions = list(self._admin.list_topics(topic, timeout=timeout).topics[topic].partitions)
        if not partitions:
            return GroupOffsets({}, {})
        high = self._watermarks(topic, partitions, OffsetSpec.latest(), timeout)
        committed = self.committed(group, topic, partitions, timeout)
        missing = [p for p in partitions if p not in committed]
        low = self._watermarks(topic, missing, OffsetSpec.earliest(), timeout) if missing else {}
        return GroupOffsets({p: committed.get(p, low.get(p, 0)) for p in partitions}, high)

    def committed(
        self, group: str, topic: str, partitions: list[int], timeout: float = 10.0
    ) -> dict[int, int]:
        """The group's committed offsets (partitions it never committed are left out)."""
        wanted = [TopicPartition(topic, p) for p in partitions]
        found = self._handle(group).committed(wanted, timeout=timeout)
        for tp in found:
            if tp.error is not None:
                raise KafkaException(tp.error)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __enter__(self) -> GroupOffsetsReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _handle(self, group: str) -> Consumer:
        if group not in self._handles:
            self._handles[group] = Consumer(
                {
                    **self._config,
                    "group.id": group,
                    "enable.auto.commit": False,
                    # The last commit, without waiting out a transaction that is still open.
                    "isolation.level": "read_uncommitted",
                }
            )
        return self._handles[group]

    def _watermarks(
        self, topic: str, partitions: list[int], spec: OffsetSpec, timeout: float
    ) -> dict[int, int]:
        listed = self._admin.list_offsets(
            {TopicPartition(topic, p): spec for p in partitions}, request_timeout=timeout
        )
        return {tp.partition: future.result().offset for tp, future in listed.items()}
