"""The live side: slice a stale backlog off a partition so fresh events are next.

A tick hook of the live runtime. Per partition: when the last message taken is older than the
stale threshold and enough messages are behind, record ``[committed, high watermark)`` in the
ledger, wait for the ack, then seek and commit the high watermark. Nothing is skipped that is
not durably recorded first; overlap with work already done is harmless (at-least-once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from confluent_kafka import KafkaException

from pipeline.backlog.ledger import LedgerWriter
from pipeline.backlog.metrics import BacklogMetrics
from pipeline.backlog.ranges import BacklogRange
from pipeline.runtime.engine import SHUTDOWN, StageRuntime
from pipeline.runtime.partition import PartitionStatus, TopicPartitionKey

log = structlog.get_logger()


@dataclass(frozen=True)
class SliceRule:
    stale_after_ms: int
    min_messages: int


def slice_bounds(
    status: PartitionStatus, now_ms: int, rule: SliceRule, sliced_end: int | None = None
) -> tuple[int, int] | None:
    """``(start, end)`` to slice off, or None. ``sliced_end`` is this partition's last slice:
    until a message past it was taken, the age still describes the backlog just sliced."""
    if SHUTDOWN in status.paused_reasons:
        return None
    position, committed, high = status.position, status.committed, status.high_watermark
    if position is None or committed is None or high is None:
        return None  # nothing taken or committed yet in this assignment
    if sliced_end is not None and position <= sliced_end:
        return None
    lag, age = status.lag, status.age_ms(now_ms)
    if lag is None or age is None or lag < rule.min_messages or age < rule.stale_after_ms:
        return None
    return (committed, high) if high > committed else None


class Slicer:
    """``runtime.add_tick_hook(Slicer(...))`` on a live (subscribed) runtime."""

    def __init__(
        self,
        stage: str,
        group: str,
        writer: LedgerWriter,
        metrics: BacklogMetrics,
        rule: SliceRule,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._stage, self._group = stage, group
        self._writer = writer
        self._metrics = metrics
        self._rule = rule
        self._wall_ms = wall_ms
        self._sliced_end: dict[TopicPartitionKey, int] = {}

    def __call__(self, runtime: StageRuntime) -> None:
        now = self._wall_ms()
        statuses = runtime.partitions()
        assigned = {(s.topic, s.partition) for s in statuses}
        self._sliced_end = {k: v for k, v in self._sliced_end.items() if k in assigned}
        ranges = []
        for status in statuses:
            key = (status.topic, status.partition)
            bounds = slice_bounds(status, now, self._rule, self._sliced_end.get(key))
            if bounds is not None:
                ranges.append(self._range(status, *bounds, now))
        if ranges:
            self._slice(runtime, ranges)

    def _range(self, status: PartitionStatus, start: int, end: int, now_ms: int) -> BacklogRange:
        return BacklogRange(
            stage=self._stage,
            group=self._group,
            topic=status.topic,
            partition=status.partition,
            origin_start=start,
            start=start,
            end=end,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
        )

    def _slice(self, runtime: StageRuntime, ranges: list[BacklogRange]) -> None:
        try:
            self._writer.put(ranges)
        except KafkaException as exc:
            self._metrics.ledger_failures.inc()
            log.error("backlog.slice_failed", stage=self._stage, error=str(exc))
            return  # nothing skipped: the next tick tries again
        for rng in ranges:
            runtime.seek_and_commit(rng.topic, rng.partition, rng.end)
            self._sliced_end[(rng.topic, rng.partition)] = rng.end
            self._metrics.sliced_ranges.inc()
            self._metrics.sliced_messages.inc(rng.size)
            log.info(
                "backlog.sliced",
                stage=self._stage,
                group=self._group,
                topic=rng.topic,
                partition=rng.partition,
                start=rng.start,
                end=rng.end,
                messages=rng.size,
            )
