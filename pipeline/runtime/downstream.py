"""Watches the next stage's consumer lag; intake pauses while it is above the limit.

Runs on its own thread with its own admin client, so slow admin calls never block polling.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

log = structlog.get_logger()


@dataclass(frozen=True)
class GroupOffsets:
    """Where a group stands on a topic, per partition; a partition the group never committed
    counts from its low watermark (all of it is still to do)."""

    committed: dict[int, int]
    high: dict[int, int]

    @property
    def lag(self) -> int:
        return sum(max(0, high - self.committed.get(p, 0)) for p, high in self.high.items())

    @property
    def done(self) -> int:
        """Committed offsets summed over partitions: its increase is the group's throughput."""
        return sum(self.committed.values())


def group_offsets(
    admin: AdminClient, group: str, topic: str, timeout: float = 10.0
) -> GroupOffsets:
    metadata = admin.list_topics(topic, timeout=timeout)
    partitions = metadata.topics[topic].partitions
    if not partitions:
        return GroupOffsets({}, {})
    latest = admin.list_offsets(
        {TopicPartition(topic, p): OffsetSpec.latest() for p in partitions},
        request_timeout=timeout,
    )
    high = {tp.partition: future.result().offset for tp, future in latest.items()}
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])]
    committed_result = admin.list_consumer_group_offsets(request, request_timeout=timeout)
    committed = {
        tp.partition: tp.offset
        for tp in committed_result[group].result().topic_partitions
        if tp.offset >= 0
    }
    earliest = (
        admin.list_offsets(
            {
                TopicPartition(topic, p): OffsetSpec.earliest()
                for p in partitions
                if p not in committed
            },
            request_timeout=timeout,
        )
        if len(committed) < len(partitions)
        else {}
    )
    low = {tp.partition: future.result().offset for tp, future in earliest.items()}
    return GroupOffsets({p: committed.get(p, low.get(p, 0)) for p in partitions}, high)


def group_lag(admin: AdminClient, group: str, topic: str, timeout: float = 10.0) -> int:
    """Messages in ``topic`` not yet committed by ``group`` (uncommitted partitions count whole)."""
    return group_offsets(admin, group, topic, timeout).lag


class DownstreamLagMonitor:
    def __init__(
        self,
        admin_config: dict[str, Any],
        group: str,
        topic: str,
        max_lag: int,
        interval_s: float,
        reason: str = "downstream_lag",
    ) -> None:
        """``reason`` names the pause: the drain uses this monitor on the live group too."""
        self.reason = reason
        self._admin = AdminClient(admin_config)
        self._group, self._topic, self._max = group, topic, max_lag
        self._interval = interval_s
        self.lag: int | None = None
        self._over = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="downstream-lag", daemon=True)

    @property
    def over_limit(self) -> bool:
        return self._over

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.lag = group_lag(self._admin, self._group, self._topic)
                # Resume only well below the limit so intake does not flap at the boundary.
                self._over = self.lag > (self._max // 2 if self._over else self._max)
            except (KafkaException, KeyError) as exc:
                log.warning("runtime.downstream_lag_unknown", group=self._group, error=str(exc))
            self._stop.wait(self._interval)
