"""The backlog-drain side: work off the ranges the live group sliced, one per partition.

A tick hook plus the commit target of a manual-mode runtime (``subscribe=False``). Each tick it
follows the ledger, tombstones and releases finished ranges, checks active ranges against the
topic's retention, assigns the oldest waiting range of every idle partition, and applies the
optional rate cap and the next stage's lag limit. Progress reaches the ledger through
``commit_to``, which the runtime calls only after every output of the offsets below is
acknowledged: a restarted drain resumes from there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from confluent_kafka import KafkaException, TopicPartition

from pipeline.backlog.ledger import LedgerReader, LedgerWriter, Written
from pipeline.backlog.metrics import BacklogMetrics
from pipeline.backlog.ranges import BacklogRange, oldest_first
from pipeline.backlog.rate import RateGate
from pipeline.backlog.watermarks import Watermarks
from pipeline.runtime.downstream import DownstreamLagMonitor
from pipeline.runtime.engine import RANGE_END, StageRuntime
from pipeline.runtime.partition import PartitionStatus, TopicPartitionKey

log = structlog.get_logger()

DRAIN_RATE = "drain_rate"
LIVE_BEHIND = "live_behind"


@dataclass
class _Active:
    range: BacklogRange
    """As last recorded in the ledger."""
    counted_to: int
    """Position up to which taken messages were fed to the rate gate."""
    finished: bool = False
    stalled_at: int | None = None
    """A position seen below the low watermark at the previous check."""


def ended_short(status: PartitionStatus) -> bool:
    """Everything below the range's end was taken, finished and recorded, although the offsets
    did not reach it (the tail held offsets without messages, such as transaction markers)."""
    return (
        RANGE_END in status.paused_reasons
        and status.in_flight == 0
        and status.committed is not None
        and status.committed == status.position
    )


def stalled_below(status: PartitionStatus, low: int) -> bool:
    """Idle and everything taken is recorded, but the next offset is gone (retention)."""
    return (
        status.position is not None
        and status.in_flight == 0
        and status.committed == status.position
        and status.position < low
    )


class DrainController:
    def __init__(
        self,
        stage: str,
        live_group: str,
        topic: str,
        writer: LedgerWriter,
        reader: LedgerReader,
        watermarks: Watermarks,
        metrics: BacklogMetrics,
        refresh_interval_s: float,
        rate: RateGate | None = None,
        pressure: Sequence[DownstreamLagMonitor] = (),
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._stage, self._group, self._topic = stage, live_group, topic
        self._writer, self._reader, self._watermarks = writer, reader, watermarks
        self._metrics = metrics
        self._refresh_s = refresh_interval_s
        self._rate = rate
        self._pressure = pressure
        self._started: list[DownstreamLagMonitor] = []
        self._clock, self._wall_ms = clock, wall_ms
        self._active: dict[TopicPartitionKey, _Active] = {}
        self._last_refresh = -math.inf

    def start(self, timeout_s: float) -> None:
        """Read the whole ledger before the runtime starts: ranges resume where recorded."""
        self._reader.catch_up(timeout_s)
        for monitor in self._pressure:
            monitor.start()
            self._started.append(monitor)
        waiting = self._open()
        log.info(
            "backlog.drain_started",
            stage=self._stage,
            group=self._group,
            ranges=len(waiting),
            messages=sum(r.remaining for r in waiting),
        )

    def close(self) -> None:
        for monitor in self._started:
            monitor.stop()
        self._reader.close()
        self._watermarks.close()

    # ----- the runtime's commit target ------------------------------------------------------

    def commit_to(self, offsets: list[TopicPartition]) -> None:
        """Record progress; a range whose start reached its end is tombstoned instead."""
        now = self._wall_ms()
        puts, done = [], []
        for tp in offsets:
            active = self._active.get((tp.topic, tp.partition))
            if active is None or active.finished:
                continue
            moved = active.range.advanced(tp.offset, now)
            if moved.drained:
                done.append(moved)
            elif moved.start != active.range.start:
                puts.append(moved)
        if puts or done:
            self._record(puts, done)

    # ----- the tick hook --------------------------------------------------------------------

    def __call__(self, runtime: StageRuntime) -> None:
        self._reader.poll()
        statuses = {(s.topic, s.partition): s for s in runtime.partitions()}
        self._release_finished(runtime, statuses)
        now = self._clock()
        if now - self._last_refresh >= self._refresh_s:
            self._last_refresh = now
            self._check_retention(runtime, statuses)
        if runtime.ready()[0]:  # not while shutting down
            self._assign_waiting(runtime)
        self._throttle(runtime, statuses)
        for monitor in self._pressure:
            runtime.set_stage_pause(monitor.reason, monitor.over_limit)
        waiting = self._open()
        self._metrics.open_ranges.set(len(waiting))
        self._metrics.remaining_messages.set(sum(r.remaining for r in waiting))

    def _release_finished(
        self, runtime: StageRuntime, statuses: dict[TopicPartitionKey, PartitionStatus]
    ) -> None:
        for key, active in list(self._active.items()):
            status = statuses.get(key)
            if not active.finished and status is not None and ended_short(status):
                try:
                    self._record([], [active.range])
                except KafkaException:
                    continue  # logged; the next tick tries again
            if active.finished:
                runtime.release(*key)
                del self._active[key]
                log.info(
                    "backlog.drained",
                    stage=self._stage,
                    topic=key[0],
                    partition=key[1],
                    origin_start=active.range.origin_start,
                    end=active.range.end,
                    expired=active.range.expired,
                )

    def _check_retention(
        self, runtime: StageRuntime, statuses: dict[TopicPartitionKey, PartitionStatus]
    ) -> None:
        """A range can expire while being drained: the consumer (auto.offset.reset=error) stops
        at the first missing offset; seen there twice in a row, the rest is drained from the
        low watermark and the gap reported."""
        for key, active in list(self._active.items()):
            status = statuses.get(key)
            if active.finished or status is None:
                continue
            low = self._low(key)
            if low is None or not stalled_below(status, low):
                active.stalled_at = None
                continue
            if active.stalled_at != status.position:
                active.stalled_at = status.position
                continue
            runtime.release(*key)
            del self._active[key]
            self._start(runtime, active.range)

    def _assign_waiting(self, runtime: StageRuntime) -> None:
        tried = set(self._active)
        for rng in oldest_first(self._open()):
            key = (rng.topic, rng.partition)
            if key not in tried:  # one range per partition, the oldest; the rest wait
                tried.add(key)
                self._start(runtime, rng)

    def _start(self, runtime: StageRuntime, rng: BacklogRange) -> None:
        key = (rng.topic, rng.partition)
        low = self._low(key)
        if low is None:
            return
        moved, lost = rng.expire_below(low, self._wall_ms())
        if lost:
            try:
                self._record([] if moved.drained else [moved], [moved] if moved.drained else [])
            except KafkaException:
                return
            self._metrics.expired_messages.inc(lost)
            log.warning(
                "backlog.expired",
                stage=self._stage,
                topic=rng.topic,
                partition=rng.partition,
                origin_start=rng.origin_start,
                start=rng.start,
                low_watermark=low,
                expired=lost,
            )
            if moved.drained:
                return
        runtime.assign_range(rng.topic, rng.partition, moved.start, moved.end)
        self._active[key] = _Active(moved, counted_to=moved.start)
        log.info(
            "backlog.draining",
            stage=self._stage,
            topic=rng.topic,
            partition=rng.partition,
            start=moved.start,
            end=moved.end,
        )

    def _throttle(
        self, runtime: StageRuntime, statuses: dict[TopicPartitionKey, PartitionStatus]
    ) -> None:
        if self._rate is None:
            return
        taken = 0
        for key, active in self._active.items():
            position = statuses[key].position if key in statuses else None
            if position is not None and position > active.counted_to:
                taken += position - active.counted_to
                active.counted_to = position
        runtime.set_stage_pause(DRAIN_RATE, self._rate.exhausted(taken))

    # ----- ledger and broker ----------------------------------------------------------------

    def _open(self) -> list[BacklogRange]:
        return self._reader.state.open_ranges(self._group, self._topic)

    def _record(self, puts: list[BacklogRange], done: list[BacklogRange]) -> None:
        """Write and apply locally; raises KafkaException (the runtime retries commits)."""
        try:
            written = self._writer.write(puts, done)
        except KafkaException as exc:
            self._metrics.ledger_failures.inc()
            log.warning("backlog.ledger_write_failed", stage=self._stage, error=str(exc))
            raise
        self._apply(written)
        self._metrics.drained_ranges.inc(len(done))
        for rng in puts:
            self._replace(rng, finished=False)
        for rng in done:
            self._replace(rng, finished=True)

    def _replace(self, rng: BacklogRange, finished: bool) -> None:
        active = self._active.get((rng.topic, rng.partition))
        if active is not None and active.range.key == rng.key:
            active.range = rng
            active.finished = finished

    def _apply(self, written: list[Written]) -> None:
        for record in written:
            self._reader.state.apply(record.key, record.position, record.range)

    def _low(self, key: TopicPartitionKey) -> int | None:
        try:
            return self._watermarks.low(*key)
        except KafkaException as exc:
            log.warning("backlog.watermark_unknown", topic=key[0], partition=key[1], error=str(exc))
            return None
