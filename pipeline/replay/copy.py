"""The copy loop: read the planned ranges, route each record, produce it, count what happened."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import structlog
from confluent_kafka import KafkaError, KafkaException, Message

from pipeline.rate_limit import TokenBucket
from pipeline.replay.ranges import PartitionRange
from pipeline.replay.routing import Route, Skip
from pipeline.replay.sink import ReplaySink
from pipeline.replay.source import ReplaySource
from pipeline.replay.summary import PartitionProgress, ReplaySummary

log = structlog.get_logger()


class RangeCopier:
    """Copies ``ranges`` of ``topic`` through ``route`` into ``sink`` (None: a dry run)."""

    def __init__(
        self,
        source: ReplaySource,
        sink: ReplaySink | None,
        topic: str,
        ranges: tuple[PartitionRange, ...],
        route: Route,
        summary: ReplaySummary,
        *,
        limiter: TokenBucket | None,
        stop: threading.Event,
    ) -> None:
        self._source = source
        self._sink = sink
        self._topic = topic
        self._ranges = tuple(r for r in ranges if r.count)
        self._route = route
        self._summary = summary
        self._limiter = limiter
        self._stop = stop
        self._progress = {r.partition: PartitionProgress(r.start, r.end) for r in self._ranges}
        self._open = set(self._progress)
        self._warned: set[str] = set()

    @property
    def done(self) -> int:
        """Offsets of the plan handled so far."""
        return sum(p.done for p in self._progress.values())

    def run(
        self,
        on_progress: Callable[[int], None],
        flush_timeout_s: float,
        batch_size: int = 500,
        poll_timeout_s: float = 0.2,
        report_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Until every range is done or ``stop`` is set; then waits for the delivery reports.

        Progress is reported every ``report_interval_s``, also inside a rate-limited batch.
        """
        if self._route.fixed_target is not None:
            # Looked up now: a metadata request while fetching can wait for the fetch to end.
            self._source.partitions(self._route.fixed_target)
        self._source.assign(self._topic, self._ranges)
        next_report = clock()
        while self._open and not self._stop.is_set():
            for message in self._source.consume(batch_size, poll_timeout_s):
                if self._stop.is_set() or not self._handle(message):
                    break
                if clock() >= next_report:
                    next_report = clock() + report_interval_s
                    self._report(on_progress)
            self._report(on_progress)
        self._summary.interrupted = bool(self._open)
        if self._sink is not None:
            self._summary.unacknowledged = self._sink.flush(flush_timeout_s)
        self._summary.remaining = tuple(
            left
            for partition, progress in sorted(self._progress.items())
            if (left := progress.remaining(partition)).count
        )
        on_progress(self.done)

    def _report(self, on_progress: Callable[[int], None]) -> None:
        if self._sink is not None:
            self._sink.serve_reports()
        on_progress(self.done)

    def _handle(self, message: Message) -> bool:
        """False when ``stop`` was set before the record was handled."""
        partition = message.partition()
        error = message.error()
        if error is not None:
            self._consume_error(error, partition)
            return True
        progress = self._progress.get(partition) if partition in self._open else None
        offset = message.offset()
        if progress is None or partition is None or offset is None:
            return True
        if offset >= progress.end:
            self._close(partition)
            return True
        if not self._copy(message, partition, offset, progress):
            return False
        self._summary.read += 1
        progress.next_offset = offset + 1
        if offset + 1 >= progress.end:
            self._close(partition)
        return True

    def _copy(
        self, message: Message, partition: int, offset: int, progress: PartitionProgress
    ) -> bool:
        """False when ``stop`` was set before the record could be handed to the producer."""
        routed = self._route(_headers(message))
        if isinstance(routed, Skip):
            self._skip(routed, partition, offset)
        elif self._source.partitions(routed.topic) is None:
            self._fail(progress, offset, f"topic {routed.topic} does not exist")
        elif self._sink is None:
            self._summary.by_target[routed.topic] += 1
        else:
            if self._must_stop_for_rate():
                return False
            on_delivery = partial(self._delivered, progress, offset, routed.topic)
            key, value = message.key(), message.value()
            if not self._sink.produce(
                routed.topic, key, value, routed.headers, on_delivery, self._stop
            ):
                return False
            progress.pending.add(offset)
        return True

    def _must_stop_for_rate(self) -> bool:
        return self._limiter is not None and self._stop.wait(self._limiter.reserve())

    def _consume_error(self, error: KafkaError, partition: int | None) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            # At the high watermark, which was at or past the planned end: nothing more to read.
            if partition is not None:
                self._close(partition)
            return
        if error.fatal():
            raise KafkaException(error)
        log.warning("replay.consume_error", topic=self._topic, error=error.str())

    def _close(self, partition: int) -> None:
        if partition in self._open:
            self._open.discard(partition)
            progress = self._progress[partition]
            progress.next_offset = progress.end
            self._source.pause(self._topic, partition)

    def _skip(self, reason: Skip, partition: int, offset: int) -> None:
        self._summary.skipped[reason] += 1
        if reason is Skip.NOT_A_DLQ_RECORD and self._first_time(reason):
            log.warning(
                "replay.not_a_dlq_record", topic=self._topic, partition=partition, offset=offset
            )

    def _fail(self, progress: PartitionProgress, offset: int, error: str) -> None:
        progress.failed(offset)
        self._summary.failed += 1
        if self._summary.first_error is None:
            self._summary.first_error = error
        if self._first_time(error):
            log.warning("replay.write_failed", topic=self._topic, offset=offset, error=error)

    def _delivered(
        self,
        progress: PartitionProgress,
        offset: int,
        target: str,
        error: KafkaError | None,
        _message: Message,
    ) -> None:
        progress.pending.discard(offset)
        if error is not None:
            self._fail(progress, offset, error.str())
            return
        self._summary.written += 1
        self._summary.by_target[target] += 1

    def _first_time(self, what: str) -> bool:
        first = what not in self._warned
        self._warned.add(what)
        return first


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    raw = message.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(key, value.encode() if isinstance(value, str) else value) for key, value in items]
