"""Read the outcomes topic over a time range into an OutcomeTally, without joining a group.

The range is found with offsets-for-times on the broker timestamps, widened by ``SLACK_MS`` on
both sides (a record's broker time and its ``timestamp_ms`` differ by the time it waited in the
producer), then each record is counted by its own ``timestamp_ms``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message

from pipeline.adapters.kafka.codec import Codec, DecodeError
from pipeline.errors import UserError
from pipeline.replay.ranges import PartitionRange, RangeSpec, plan_ranges
from pipeline.replay.source import ReplaySource
from pipeline.reporting.tally import OutcomeTally
from pipeline.stages.outcomes import OUTCOME_SCHEMA

log = structlog.get_logger()

SLACK_MS = 60_000


class OutcomeReader:
    """``on_start(total)`` once the range is known, ``on_progress(done)`` as records arrive."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        codec: Codec,
        topic: str,
        *,
        timeout_s: float = 10.0,
        on_start: Callable[[int], None] = lambda _total: None,
        on_progress: Callable[[int], None] = lambda _done: None,
    ) -> None:
        self._config = client_config
        self._codec = codec
        self._topic = topic
        self._timeout_s = timeout_s
        self._on_start = on_start
        self._on_progress = on_progress

    def read(self, tally: OutcomeTally) -> OutcomeTally:
        spec = RangeSpec(
            start_time_ms=max(0, tally.since_ms - SLACK_MS), end_time_ms=tally.until_ms + SLACK_MS
        )
        with ReplaySource(self._config, self._timeout_s) as source:
            partitions = source.require(self._topic)
            ranges = plan_ranges(
                spec,
                source.watermarks(self._topic, partitions),
                source.offsets_at(self._topic, partitions, spec.times_ms),
            )
            todo = {r.partition: r for r in ranges if r.count}
            self._on_start(sum(r.count for r in todo.values()))
            if todo:
                self._read_ranges(source, todo, tally)
        return tally

    def _read_ranges(
        self, source: ReplaySource, todo: dict[int, PartitionRange], tally: OutcomeTally
    ) -> None:
        source.assign(self._topic, todo.values())
        starts = {partition: r.start for partition, r in todo.items()}
        done = dict.fromkeys(todo, 0)
        idle_s = 0.0
        poll_s = 0.2
        while todo:
            messages = source.consume(500, poll_s)
            idle_s = 0.0 if messages else idle_s + poll_s
            if idle_s >= self._timeout_s:
                raise UserError(
                    f"reading {self._topic} stalled: no records for {self._timeout_s:g} s with "
                    f"partitions {sorted(todo)} unfinished (is the broker still reachable?)"
                )
            for message in messages:
                partition = self._handle(message, todo, tally)
                if partition is not None:
                    done[partition] = (message.offset() or 0) + 1 - starts[partition]
            self._on_progress(sum(done.values()))

    def _handle(
        self, message: Message, todo: dict[int, PartitionRange], tally: OutcomeTally
    ) -> int | None:
        """The partition whose progress moved, if any; finished partitions leave ``todo``."""
        partition, offset, error = message.partition(), message.offset(), message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                if partition is not None:
                    todo.pop(partition, None)
            elif error.fatal():
                raise KafkaException(error)
            else:
                log.warning("outcomes.consume_error", topic=self._topic, error=error.str())
            return None
        if partition is None or offset is None or partition not in todo:
            return None
        if offset >= todo[partition].end:
            del todo[partition]
            return None
        self._count(message.value(), tally)
        if offset + 1 >= todo[partition].end:
            del todo[partition]
        return partition

    def _count(self, value: bytes | None, tally: OutcomeTally) -> None:
        if value is None:
            return
        try:
            record = self._codec.decode(OUTCOME_SCHEMA, value, self._topic)
        except DecodeError as exc:
            tally.undecodable += 1
            if tally.undecodable == 1:  # the rest are only counted: a bad topic is one line
                log.warning("outcomes.undecodable", topic=self._topic, error=str(exc))
            return
        tally.add(record)
