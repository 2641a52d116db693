"""The consumer loop every stage runs on.

One thread owns the consumer, the producer and all bookkeeping. Work runs elsewhere (threads or
processes) and comes back through one completion queue. Each tick the loop: takes messages,
handles finished work, serves delivery reports, updates pressure, applies pauses, commits.

Invariants:
- an input offset is committed only after every record it produced is acknowledged by the
  broker or durably written by the sink (at-least-once);
- each partition holds at most a window of unfinished messages, the stage at most a global cap;
- a partition is paused, never the whole consumer, and polling never stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from queue import Empty, SimpleQueue
from typing import Any, cast

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from pipeline.config import RuntimeSettings
from pipeline.observability.metrics import StageMetrics
from pipeline.runtime.dead_letter import dead_letter_record
from pipeline.runtime.downstream import DownstreamLagMonitor
from pipeline.runtime.errors import StageHalted
from pipeline.runtime.messages import RECEIVED_AT_HEADER, InputMessage, Processed, Produce, Write
from pipeline.runtime.offsets import OffsetTracker
from pipeline.runtime.partition import PartitionState, PartitionStatus, TopicPartitionKey, Work
from pipeline.runtime.pauses import PauseBook
from pipeline.runtime.pool import Failure, ProcessPool, ThreadPool, WorkPool
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.sink_writer import SinkDone, SinkFailed, SinkWriter
from pipeline.runtime.stage import StageSpec

log = structlog.get_logger()

WINDOW_FULL = "window_full"
IN_FLIGHT_CAP = "in_flight_cap"
PRODUCER_QUEUE = "producer_queue"
SINK_UNAVAILABLE = "sink_unavailable"
DOWNSTREAM_LAG = "downstream_lag"
SHUTDOWN = "shutdown"

TickHook = Callable[["StageRuntime"], None]


class StageRuntime:
    def __init__(
        self,
        spec: StageSpec,
        consumer_config: dict[str, Any],
        producer_config: dict[str, Any],
        limits: RuntimeSettings,
        metrics: StageMetrics,
        downstream: DownstreamLagMonitor | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.spec = spec
        self.limits = limits
        self.metrics = metrics
        self._clock = clock
        self._wall_ms = wall_ms
        self._consumer = Consumer({**consumer_config, "on_commit": self._on_commit_result})
        self._producer = Producer(producer_config)
        self._producer_capacity = int(producer_config.get("queue.buffering.max.messages", 100000))
        self._completions: SimpleQueue[Any] = SimpleQueue()
        retry = RetryPolicy(
            attempts=limits.retry_attempts,
            max_seconds=limits.retry_max_s,
            initial_backoff_s=limits.retry_initial_backoff_s,
            max_backoff_s=limits.retry_max_backoff_s,
        )
        self._pool: WorkPool = (
            ProcessPool(spec.process, retry, self._completions, limits.workers)
            if spec.mode == "processes"
            else ThreadPool(spec.process, retry, self._completions, limits.workers, spec.name)
        )
        self._sink = (
            SinkWriter(
                spec.sink,
                self._completions,
                spec.sink_batch_size,
                spec.sink_batch_max_wait_s,
                max_backoff_s=limits.retry_max_backoff_s,
            )
            if spec.sink is not None
            else None
        )
        self._downstream = downstream
        self._parts: dict[TopicPartitionKey, PartitionState] = {}
        self._pauses: PauseBook[TopicPartitionKey] = PauseBook()
        self._paused: set[TopicPartitionKey] = set()
        self._blocked: list[tuple[Work, Produce]] = []
        self._epochs = 0
        self._stop_requested = False
        self._stopping_since: float | None = None
        self._last_commit = clock()
        self._last_observe = 0.0
        self._last_tick = clock()
        self._started = False
        self._tick_hooks: list[TickHook] = []
        self._window = limits.max_in_flight_per_partition
        self._window_resume = int(self._window * limits.resume_below)
        # Read once per tick: per-message clock reads showed up in profiles.
        self._now = clock()
        self._now_ms = wall_ms()
        self._produced: dict[str, int] = {}
        self._processing = metrics.processing_seconds.labels(spec.name)

    # ----- public control -------------------------------------------------------------------

    def add_tick_hook(self, hook: TickHook) -> None:
        """Called on the loop thread once per observe interval (for the backlog slicer)."""
        self._tick_hooks.append(hook)

    def request_stop(self) -> None:
        """Begin a graceful stop; safe from signal handlers and other threads."""
        self._stop_requested = True

    def alive(self) -> tuple[bool, str]:
        idle = self._clock() - self._last_tick
        return (idle < 30.0, f"last loop iteration {idle:.1f}s ago")

    def ready(self) -> tuple[bool, str]:
        if self._stopping_since is not None:
            return False, "shutting down"
        if not self._started:
            return False, "starting"
        return True, f"{len(self._parts)} partitions assigned"

    def partitions(self) -> list[PartitionStatus]:
        return [
            PartitionStatus(
                topic=key[0],
                partition=key[1],
                position=state.position,
                committed=state.committed,
                high_watermark=state.high_watermark,
                in_flight=state.tracker.in_flight,
                last_timestamp_ms=state.last_timestamp_ms,
                paused_reasons=frozenset(self._pauses.reasons(key)),
            )
            for key, state in self._parts.items()
        ]

    def seek_and_commit(self, topic: str, partition: int, offset: int) -> None:
        """Move a partition to ``offset`` and commit it; in-flight work before it becomes stale.

        Loop thread only (tick hooks). The backlog slicer calls this after recording the
        skipped range durably, so nothing before ``offset`` is lost.
        """
        key = (topic, partition)
        state = self._parts.get(key)
        if state is None:
            raise KeyError(f"{topic}[{partition}] is not assigned")
        self._epochs += 1
        state.epoch = self._epochs
        state.tracker.reset(offset)
        self._pauses.mark(key, WINDOW_FULL, False)
        self._consumer.seek(TopicPartition(topic, partition, offset))
        self._commit_sync([TopicPartition(topic, partition, offset)])
        state.committed = offset

    # ----- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        self._consumer.subscribe(
            [self.spec.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        if self._downstream is not None:
            self._downstream.start()
        log.info(
            "runtime.started",
            stage=self.spec.name,
            topic=self.spec.input_topic,
            group=self.spec.group_id,
            mode=self.spec.mode,
        )
        self._started = True
        try:
            while not self._finished():
                self._tick()
        except StageHalted as exc:
            log.error("runtime.halted", stage=self.spec.name, reason=str(exc))
            self._close(commit=False)
            return 3
        self._close(commit=True)
        return 0

    def _tick(self) -> None:
        now = self._now = self._clock()
        self._now_ms = self._wall_ms()
        self._last_tick = now
        if self._stop_requested and self._stopping_since is None:
            self._begin_stop(now)
        self._take(self._poll())
        self._pool.adjust()
        self._handle_completions()
        self._producer.poll(0)
        self._retry_blocked()
        self._update_pressure()
        self._apply_pauses()
        if now - self._last_commit >= self.limits.commit_interval_s:
            self._commit_async()
            self._last_commit = now
        if now - self._last_observe >= 1.0:
            self._observe()
            self._last_observe = now

    def _poll(self) -> list[Message]:
        room = self.limits.max_in_flight - self._total_in_flight()
        busy = room < self.limits.max_in_flight or self._blocked
        timeout = 0.005 if busy else 0.1
        return self._consumer.consume(num_messages=max(1, min(1000, room)), timeout=timeout)

    def _finished(self) -> bool:
        if self._stopping_since is None:
            return False
        if self._total_in_flight() == 0 and not self._blocked:
            return True
        if self._clock() - self._stopping_since > self.limits.shutdown_grace_s:
            log.warning("runtime.shutdown_grace_expired", in_flight=self._total_in_flight())
            return True
        return False

    def _begin_stop(self, now: float) -> None:
        self._stopping_since = now
        log.info("runtime.stopping", stage=self.spec.name, in_flight=self._total_in_flight())
        self._set_global_pause(SHUTDOWN, True)

    def _close(self, commit: bool) -> None:
        if commit:
            self._producer.flush(max(1.0, self.limits.shutdown_grace_s / 2))
            self._producer.poll(0)
            self._handle_completions()
            self._commit_sync(self._commit_positions())
        if self._downstream is not None:
            self._downstream.stop()
        self._pool.shutdown(wait=False)
        if self._sink is not None:
            self._sink.close(timeout=5.0)
        self._consumer.close()
        log.info("runtime.stopped", stage=self.spec.name, committed=commit)

    # ----- taking messages ------------------------------------------------------------------

    def _take(self, messages: list[Message]) -> None:
        if not messages:
            return
        now = self._now
        taken: list[Work] = []
        touched: set[TopicPartitionKey] = set()
        for raw in messages:
            error = raw.error()
            if error is not None:
                self._on_consume_error(error)
                continue
            msg = _detach(raw)
            key = (msg.topic, msg.partition)
            state = self._parts.get(key)
            if state is None or state.revoking or self._stopping_since is not None:
                continue  # not ours any more, or stopping: the next owner or run re-reads it
            offset = msg.offset
            last = state.tracker.last_seen
            if last is not None and offset <= last:
                continue  # already taken (a re-fetch after pause or seek)
            state.tracker.add(offset)
            state.last_timestamp_ms = msg.timestamp_ms
            taken.append(Work(msg, state.epoch, now))
            state.consumed += 1
            touched.add(key)
        for key in touched:  # the window is checked per batch: at most one batch over
            if self._parts[key].tracker.in_flight >= self._window:
                self._set_pause(key, WINDOW_FULL, True)
        if taken:
            self._pool.submit(taken)

    def _on_consume_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal():
            raise KafkaException(error)
        log.warning("runtime.consume_error", error=str(error))

    # ----- finishing work -------------------------------------------------------------------

    def _handle_completions(self) -> None:
        get = self._completions.get_nowait
        while True:
            try:
                item = get()
            except Empty:
                return
            if isinstance(item, SinkDone):
                for work, follow_ups in item.written:
                    work.pending += len(follow_ups)
                    for record in follow_ups:
                        self._produce(work, record)
                    self._acknowledged(work)
            elif isinstance(item, SinkFailed):
                self._dead_letter(item.task, Failure(item.error, 1), pending_before=1)
            else:
                work, outcome = item
                state = self._parts.get((work.msg.topic, work.msg.partition))
                if state is None or state.epoch != work.epoch:
                    continue  # revoked or sought since it was taken
                if isinstance(outcome, Failure):
                    self._dead_letter(work, outcome, pending_before=0)
                else:
                    self._dispatch(work, outcome)

    def _current(self, work: Work) -> bool:
        state = self._parts.get(work.key)
        return state is not None and state.epoch == work.epoch

    def _dispatch(self, work: Work, processed: Processed) -> None:
        produces: list[Produce] = []
        writes: list[Any] = []
        for emit in processed.emits:
            if isinstance(emit, Write):
                writes.append(emit.item)
            else:
                produces.append(emit)
        work.pending = len(produces) + (1 if writes else 0)
        self._record_outcome(work, failed=False)
        if work.pending == 0:
            self._finish(work)
            return
        for record in produces:
            self._produce(work, record)
        if writes:
            assert self._sink is not None, f"stage {self.spec.name} emitted Write without a sink"
            self._sink.submit(work, writes)

    def _dead_letter(self, work: Work, failure: Failure, pending_before: int) -> None:
        """DLQ record plus `invalid` outcomes for a message that cannot be processed; go on."""
        self.metrics.failed.labels(self.spec.name).inc()
        log.warning(
            "runtime.dead_lettered",
            stage=self.spec.name,
            topic=work.msg.topic,
            partition=work.msg.partition,
            offset=work.msg.offset,
            error=failure.error,
            attempts=failure.attempts,
        )
        records = [
            dead_letter_record(
                work.msg,
                self.spec.dead_letter_topic,
                self.spec.name,
                failure.error,
                failure.attempts,
                self._wall_ms(),
            )
        ]
        if self.spec.on_invalid is not None:
            records.extend(self.spec.on_invalid(work.msg, failure.error))
        work.pending += len(records) - pending_before
        self.metrics.dead_lettered.labels(self.spec.name).inc()
        self._record_outcome(work, failed=True)
        for record in records:
            self._produce(work, record)

    def _produce(self, work: Work, record: Produce) -> None:
        headers = record.headers
        if work.msg.headers and not any(name == RECEIVED_AT_HEADER for name, _ in headers):
            received = work.msg.header(RECEIVED_AT_HEADER)
            if received is not None:
                headers = [*headers, (RECEIVED_AT_HEADER, received)]
        try:
            self._producer.produce(
                record.topic,
                value=record.value,
                key=record.key,
                headers=list(headers),
                on_delivery=partial(self._delivered, work, record),
            )
        except BufferError:
            self._blocked.append((work, record))
            self._set_global_pause(PRODUCER_QUEUE, True)

    def _delivered(self, work: Work, record: Produce, error: KafkaError | None, _: Any) -> None:
        if error is not None:
            log.warning("runtime.delivery_failed", topic=record.topic, error=str(error))
            self._blocked.append((work, record))  # retried: the input offset stays uncommitted
            return
        self._produced[record.topic] = self._produced.get(record.topic, 0) + 1
        self._acknowledged(work)

    def _acknowledged(self, work: Work) -> None:
        work.pending -= 1
        if work.pending <= 0:
            self._finish(work)

    def _finish(self, work: Work) -> None:
        msg = work.msg
        key = (msg.topic, msg.partition)
        state = self._parts.get(key)
        if state is None or state.epoch != work.epoch:
            return
        state.tracker.done(msg.offset)
        self._processing.observe(self._now - work.taken_at)
        received = msg.received_at_ms
        self.metrics.cohort_latency(received).observe(max(0.0, (self._now_ms - received) / 1000))
        if WINDOW_FULL in self._pauses.local_reasons(key) and (
            state.tracker.in_flight <= self._window_resume
        ):
            self._set_pause(key, WINDOW_FULL, False)

    def _record_outcome(self, work: Work, failed: bool) -> None:
        limit = self.limits.max_failure_ratio
        if limit is None:
            return
        state = self._parts.get(work.key)
        if state is None:
            return
        recent = state.recent_failures
        recent.append(failed)
        if len(recent) > self.limits.failure_window:
            recent.popleft()
        if len(recent) == self.limits.failure_window and sum(recent) / len(recent) >= limit:
            raise StageHalted(
                f"{sum(recent)} of the last {len(recent)} messages of {work.msg.topic}"
                f"[{work.msg.partition}] failed (limit {limit:.0%}): check the configuration"
            )

    def _retry_blocked(self) -> None:
        if not self._blocked:
            return
        blocked, self._blocked = self._blocked, []
        for work, record in blocked:
            if self._current(work) or self._stopping_since is not None:
                self._produce(work, record)

    # ----- pressure and pauses --------------------------------------------------------------

    def _total_in_flight(self) -> int:
        return sum(state.tracker.in_flight for state in self._parts.values())

    def _update_pressure(self) -> None:
        total = self._total_in_flight()
        if total >= self.limits.max_in_flight:
            self._set_global_pause(IN_FLIGHT_CAP, True)
        elif total <= self.limits.max_in_flight * self.limits.resume_below:
            self._set_global_pause(IN_FLIGHT_CAP, False)
        queued = len(self._producer)
        high = self._producer_capacity * self.limits.producer_queue_high
        if queued >= high:
            self._set_global_pause(PRODUCER_QUEUE, True)
        elif queued < high / 2 and not self._blocked:
            self._set_global_pause(PRODUCER_QUEUE, False)
        if self._sink is not None:
            self._set_global_pause(SINK_UNAVAILABLE, self._sink.unavailable)
        if self._downstream is not None:
            self._set_global_pause(DOWNSTREAM_LAG, self._downstream.over_limit)

    def _set_pause(self, key: TopicPartitionKey, reason: str, active: bool) -> None:
        if self._pauses.mark(key, reason, active):
            self._log_pause(reason, active, topic=key[0], partition=key[1])

    def _set_global_pause(self, reason: str, active: bool) -> None:
        if self._pauses.mark_global(reason, active):
            self._log_pause(reason, active)

    def _log_pause(self, reason: str, active: bool, **where: Any) -> None:
        # A full window is routine flow control at high throughput: count it, log it quietly.
        emit = log.debug if reason == WINDOW_FULL else log.info
        if active:
            self.metrics.pauses.labels(self.spec.name, reason).inc()
            emit("runtime.paused", stage=self.spec.name, reason=reason, **where)
        else:
            emit("runtime.resumed", stage=self.spec.name, reason=reason, **where)

    def _apply_pauses(self) -> None:
        desired = self._pauses.paused()
        to_pause = desired - self._paused
        to_resume = self._paused - desired
        if to_pause:
            self._consumer.pause([TopicPartition(t, p) for t, p in to_pause])
        if to_resume:
            self._consumer.resume([TopicPartition(t, p) for t, p in to_resume])
        self._paused = desired

    # ----- commits --------------------------------------------------------------------------

    def _commit_positions(
        self, keys: Sequence[TopicPartitionKey] | None = None
    ) -> list[TopicPartition]:
        offsets = []
        for key in keys if keys is not None else list(self._parts):
            state = self._parts.get(key)
            if state is None:
                continue
            committable = state.tracker.committable
            if committable is not None and committable != state.committed:
                offsets.append(TopicPartition(key[0], key[1], committable))
        return offsets

    def _commit_async(self) -> None:
        offsets = self._commit_positions()
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            log.warning("runtime.commit_failed", error=str(exc))
            return
        self._note_committed(offsets)

    def _commit_sync(self, offsets: list[TopicPartition]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("runtime.commit_failed", error=str(exc), sync=True)
            return
        self._note_committed(offsets)

    def _note_committed(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            state = self._parts.get((tp.topic, tp.partition))
            if state is not None:
                state.committed = tp.offset
                state.metric_children["committed"].set(tp.offset)

    def _on_commit_result(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is None:
            return
        log.warning("runtime.commit_rejected", error=str(error))
        for tp in partitions:  # make the next interval try again
            state = self._parts.get((tp.topic, tp.partition))
            if state is not None:
                state.committed = None

    # ----- rebalances -----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._epochs += 1
            self._parts[key] = PartitionState(
                epoch=self._epochs,
                tracker=OffsetTracker(),
                metric_children={
                    "consumed": self.metrics.consumed.labels(self.spec.name, str(tp.partition)),
                    "lag": self.metrics.lag.labels(self.spec.name, tp.topic, str(tp.partition)),
                    "committed": self.metrics.committed_offset.labels(
                        self.spec.name, tp.topic, str(tp.partition)
                    ),
                },
            )
            self._pauses.add_partition(key)
            self._paused.discard(key)  # a new assignment starts unpaused
        consumer.incremental_assign(partitions)
        self._apply_pauses()  # re-apply stage-wide pauses to the new partitions
        log.info(
            "runtime.assigned",
            stage=self.spec.name,
            partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions],
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [
            (tp.topic, tp.partition) for tp in partitions if (tp.topic, tp.partition) in self._parts
        ]
        for key in keys:
            self._parts[key].revoking = True
        deadline = self._clock() + self.limits.revoke_grace_s
        while self._clock() < deadline and any(self._parts[k].tracker.in_flight for k in keys):
            self._handle_completions()
            self._producer.poll(0.01)
            self._retry_blocked()
        self._producer.flush(max(0.0, deadline - self._clock()))
        self._handle_completions()
        self._commit_sync(self._commit_positions(keys))
        unfinished = sum(self._parts[k].tracker.in_flight for k in keys)
        if unfinished:
            self.metrics.dropped_on_revoke.labels(self.spec.name).inc(unfinished)
        for key in keys:
            self._forget(key)
        consumer.incremental_unassign(partitions)
        log.info(
            "runtime.revoked",
            stage=self.spec.name,
            unfinished=unfinished,
            partitions=[f"{t}[{p}]" for t, p in keys],
        )

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another member owns these already: committing now could overwrite its progress."""
        for tp in partitions:
            self._forget((tp.topic, tp.partition))
        consumer.incremental_unassign(partitions)
        log.warning(
            "runtime.partitions_lost",
            stage=self.spec.name,
            partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions],
        )

    def _forget(self, key: TopicPartitionKey) -> None:
        self._parts.pop(key, None)
        self._pauses.remove_partition(key)
        self._paused.discard(key)

    # ----- observation ----------------------------------------------------------------------

    def _observe(self) -> None:
        for topic, count in self._produced.items():
            self.metrics.produced.labels(self.spec.name, topic).inc(count)
        self._produced.clear()
        self.metrics.in_flight.labels(self.spec.name).set(self._total_in_flight())
        self.metrics.paused_partitions.labels(self.spec.name).set(len(self._paused))
        if self._sink is not None:
            self.metrics.sink_unavailable.labels(self.spec.name).set(int(self._sink.unavailable))
        for (topic, partition), state in self._parts.items():
            state.metric_children["consumed"].inc(state.consumed - state.consumed_reported)
            state.consumed_reported = state.consumed
            try:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                state.high_watermark = high
                position = state.position
                if position is not None:
                    state.metric_children["lag"].set(max(0, high - position))
        for hook in self._tick_hooks:
            hook(self)


def _detach(raw: Message) -> InputMessage:
    """Copy what the stage needs out of librdkafka's message (which cannot be pickled)."""
    headers = raw.headers()
    return InputMessage(
        topic=cast(str, raw.topic()),
        partition=cast(int, raw.partition()),
        offset=cast(int, raw.offset()),
        key=raw.key(),
        value=raw.value(),
        timestamp_ms=raw.timestamp()[1],
        headers=cast(list[tuple[str, bytes]], headers) if headers else (),
    )
