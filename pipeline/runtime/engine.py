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

import os
import time
from collections.abc import Callable, Sequence
from queue import Empty, SimpleQueue
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from pipeline.cohorts.book import CohortBook, column_of, is_replayed
from pipeline.cohorts.counts import DEAD_LETTERED, FORWARDED, REPLAYED
from pipeline.config import RuntimeSettings
from pipeline.errors import ConfigError
from pipeline.observability.metrics import StageMetrics
from pipeline.runtime.async_pool import AsyncPool
from pipeline.runtime.dead_letter import dead_letter_record
from pipeline.runtime.downstream import DownstreamLagMonitor
from pipeline.runtime.errors import StageHalted
from pipeline.runtime.gc_tuning import tune_for_streaming
from pipeline.runtime.messages import (
    Emit,
    Produce,
    Write,
    received_at,
)
from pipeline.runtime.offsets import OffsetTracker
from pipeline.runtime.output import Output, carrying
from pipeline.runtime.partition import PartitionState, PartitionStatus, TopicPartitionKey, Work
from pipeline.runtime.pauses import PauseBook
from pipeline.runtime.pool import Failure, OneByOne, ProcessPool, WorkPool
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.sink_writer import SinkDone, SinkFailed, SinkWriter
from pipeline.runtime.stage import StageSpec, is_async
from pipeline.runtime.thread_pool import ThreadPool
from pipeline.runtime.transactions import TransactionalOutput, TransactionFailed, transactional_id

log = structlog.get_logger()

WINDOW_FULL = "window_full"
IN_FLIGHT_CAP = "in_flight_cap"
PRODUCER_QUEUE = "producer_queue"
SINK_UNAVAILABLE = "sink_unavailable"
SHUTDOWN = "shutdown"
RANGE_END = "range_end"
TRANSACTION_COMMIT_S = 60.0
"""Well under the consumer's max.poll.interval.ms (300 s), which the blocked loop must not miss."""

CommitTarget = Callable[[list[TopicPartition]], None]
"""Records committed positions somewhere other than Kafka's group offsets; raises on failure."""

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
        subscribe: bool = True,
        commit_to: CommitTarget | None = None,
        cohorts: CohortBook | None = None,
        cohort_publish_interval_s: float = 5.0,
    ) -> None:
        """``subscribe=False`` leaves assignment to a tick hook (``assign_range``), and
        ``commit_to`` replaces Kafka offset commits: the backlog drain records its progress in
        the ledger instead. ``cohorts`` counts every message by receive cohort."""
        self.spec = spec
        self._subscribe = subscribe
        self._commit_to = commit_to
        self.limits = limits
        self.metrics = metrics
        self._clock = clock
        self._wall_ms = wall_ms
        try:
            self._consumer = Consumer({**consumer_config, "on_commit": self._on_commit_result})
            on_full = lambda: self._set_global_pause(PRODUCER_QUEUE, True)  # noqa: E731
            self._transactions = (
                TransactionalOutput(
                    producer_config,
                    on_full,
                    transactional_id(spec.group_id, producer_config["client.id"]),
                )
                if spec.exactly_once and commit_to is None
                else None
            )
            self._output = self._transactions or Output(producer_config, on_full)
        except KafkaException as exc:  # librdkafka refuses the settings before connecting
            raise ConfigError(
                f"the Kafka client settings were refused: {exc.args[0].str()} "
                "(check kafka.client_config)"
            ) from exc
        self._completions: SimpleQueue[Any] = SimpleQueue()
        retry = RetryPolicy(
            attempts=limits.retry_attempts,
            max_seconds=limits.retry_max_s,
            initial_backoff_s=limits.retry_initial_backoff_s,
            max_backoff_s=limits.retry_max_backoff_s,
        )
        self._pool = self._make_pool(spec, retry, limits)
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
        self._processing = metrics.processing_seconds.labels(spec.name)
        self._window_full: set[TopicPartitionKey] = set()
        self._cohorts = metrics.cohorts
        self._cohort_width_ms = metrics.cohort_width_ms
        self._book = cohorts
        if cohorts is not None and cohorts.width_ms != metrics.cohort_width_ms:
            raise ValueError("the cohort book and the latency metrics must cut the same cohorts")
        self._publish_interval_s = cohort_publish_interval_s
        self._last_publish = 0.0

    def _make_pool(self, spec: StageSpec, retry: RetryPolicy, limits: RuntimeSettings) -> WorkPool:
        batch = spec.process_batch
        fn = spec.process if batch is None else OneByOne(batch)
        assert fn is not None  # StageSpec requires one of the two
        if is_async(fn):  # StageSpec refuses coroutine functions in processes mode
            return AsyncPool(fn, retry, self._completions)
        if spec.mode == "processes":
            workers = limits.processes or os.cpu_count() or 1
            return ProcessPool(fn, retry, self._completions, workers, batch=batch)
        runnable = runnable_threads(spec, limits)
        return ThreadPool(fn, retry, self._completions, limits.workers, runnable, batch=batch)

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
        """Ready once consuming, assigned or not: under the consumer group protocol (KIP-848)
        a member left without partitions (more replicas than partitions) is never called back
        with its empty assignment, so waiting for one would keep spare replicas unready."""
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
            for key, state in list(self._parts.items())  # callable from other threads
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
        self._reposition(key, state, offset)  # the drain produces its outputs again
        self._commit([TopicPartition(topic, partition, offset)], False, flush_timeout=None)
        if state.cohorts is not None:
            state.cohorts.abandon()

    def set_stage_pause(self, reason: str, active: bool) -> None:
        """Pause or resume every partition for ``reason`` (tick hooks: drain throttling)."""
        self._set_global_pause(reason, active)

    def assign_range(self, topic: str, partition: int, start: int, end: int) -> None:
        """Manual mode: read ``topic[partition]`` from ``start``; offsets from ``end`` on are
        never taken, so a drain processes exactly the range."""
        key = (topic, partition)
        if key in self._parts:
            raise ValueError(f"{topic}[{partition}] is already assigned")
        self._add_partition(key, segment=f"from-{start}")
        state = self._parts[key]
        state.stop_at = end
        state.tracker.reset(start)
        self._consumer.incremental_assign([TopicPartition(topic, partition, start)])
        self._apply_pauses()

    def release(self, topic: str, partition: int) -> None:
        """Manual mode: stop reading a partition (its range is done or abandoned)."""
        key = (topic, partition)
        if key in self._parts:
            self._forget(key)
            self._consumer.incremental_unassign([TopicPartition(topic, partition)])

    # ----- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        if self.limits.gc_young_threshold is not None:
            tune_for_streaming(self.limits.gc_young_threshold)
        if self._subscribe:
            self._consumer.subscribe(
                [self.spec.input_topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        if self._transactions is not None:
            try:
                self._transactions.start(self.limits.revoke_grace_s + 20)
            except KafkaException as exc:
                log.error("runtime.halted", stage=self.spec.name, reason=str(exc))
                self._close(commit=False)
                return 3
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
        messages = self._poll()
        # poll() may have blocked: latencies must be measured from when messages arrived.
        now = self._now = self._clock()
        self._now_ms = self._wall_ms()
        self._take(messages)
        self._pool.adjust()
        self._handle_completions()
        self._output.serve()
        if self._output.fatal is not None:
            raise StageHalted(self._output.fatal)
        self._output.retry_blocked(self._finish_current)
        self._update_pressure()
        self._apply_pauses()
        if now - self._last_commit >= self.limits.commit_interval_s:
            self._commit(self._commit_positions(), asynchronous=True, flush_timeout=2.0)
            self._last_commit = now
        if now - self._last_observe >= 1.0:
            self._observe()
            self._last_observe = now

    def _poll(self) -> list[Message]:
        """Whatever is ready, else wait for the first message only.

        consume(n, timeout) waits out the whole timeout unless n messages arrive, which at low
        rates adds the timeout to every event's latency; poll() returns on the first one.
        """
        room = self.limits.max_in_flight - self._total_in_flight()
        # A batch bigger than a window would mostly wait in `held` and pause its partition,
        # and every pause throws away librdkafka's prefetch for it.
        wanted = max(1, min(1000, room, self._window))
        ready = self._consumer.consume(num_messages=wanted, timeout=0)
        if ready:
            return ready
        busy = room < self.limits.max_in_flight or self._output.blocked
        first = self._consumer.poll(0.005 if busy else 0.1)
        if first is None:
            return []
        if wanted == 1:
            return [first]
        return [first, *self._consumer.consume(num_messages=wanted - 1, timeout=0)]

    def _finished(self) -> bool:
        if self._stopping_since is None:
            return False
        if self._total_in_flight() == 0 and not self._output.blocked:
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
        if not commit:  # halted: the revoke that close() triggers must not commit either
            for key in list(self._parts):
                self._forget(key)
            if self._transactions is not None:
                self._transactions.abort(5.0)
        if commit:
            self._handle_completions()
            try:
                self._commit(
                    self._commit_positions(),
                    asynchronous=False,
                    flush_timeout=max(1.0, self.limits.shutdown_grace_s / 2),
                )
            except StageHalted as exc:  # aborted: the next run reads the same messages again
                log.error("runtime.final_commit_failed", stage=self.spec.name, reason=str(exc))
        if self._downstream is not None:
            self._downstream.stop()
        self._pool.shutdown(wait=False)
        if self._sink is not None:
            self._sink.close(timeout=5.0)
        if self.spec.on_close is not None:
            self.spec.on_close()
        self._consumer.close()
        log.info("runtime.stopped", stage=self.spec.name, committed=commit)

    # ----- taking messages ------------------------------------------------------------------

    def _take(self, messages: list[Message]) -> None:
        """Split a batch into runs of one partition (consume() returns long runs) and take each.

        Everything per partition (state lookup, window room, offset tracking) is done once per
        run, not once per message: this is the hottest path of every stage.
        """
        if not messages or self._stopping_since is not None:
            return  # stopping: the next run re-reads whatever was not taken
        taken: list[Work] = []
        run: list[Any] = []
        run_key: TopicPartitionKey | None = None
        for message in messages:
            # librdkafka types every accessor Optional; on a message without error() they are
            # all set. Typing it Any once keeps cast() calls off the per-message path.
            raw: Any = message
            error = raw.error()
            if error is not None:
                self._on_consume_error(error)
                continue
            key = (raw.topic(), raw.partition())
            if key != run_key:
                if run_key is not None:
                    self._take_run(run_key, run, taken)
                run, run_key = [], key
            run.append(raw)
        if run_key is not None:
            self._take_run(run_key, run, taken)
        if taken:
            self._pool.submit(taken)

    def _take_run(self, key: TopicPartitionKey, run: list[Any], taken: list[Work]) -> None:
        state = self._parts.get(key)
        if state is None or state.revoking:
            return  # not ours any more: the next owner re-reads it
        last = state.held_last if state.held else state.tracker.last_seen
        if last is not None and run[0].offset() <= last:
            run = [raw for raw in run if raw.offset() > last]  # re-fetched after pause or seek
            if not run:
                return
        if state.stop_at is not None and run[-1].offset() >= state.stop_at:
            self._set_pause(key, RANGE_END, True)
            run = [raw for raw in run if raw.offset() < state.stop_at]
            if not run:
                return
        room = 0 if state.held else self._window - state.tracker.in_flight
        if room < len(run):
            # One consume() batch can hold more than a window: the rest waits here, not in
            # flight, and is taken in order as the window frees up.
            state.held.extend(run[max(0, room) :])
            state.held_last = run[-1].offset()
            self._set_pause(key, WINDOW_FULL, True)
            run = run[: max(0, room)]
        if run:
            self._start_run(key, state, run, taken)
            if state.tracker.in_flight >= self._window:
                self._set_pause(key, WINDOW_FULL, True)

    def _start_run(
        self, key: TopicPartitionKey, state: PartitionState, run: Sequence[Any], taken: list[Work]
    ) -> None:
        """Messages of one partition, in offset order, become work in flight."""
        topic, partition = key
        epoch, now = state.epoch, self._now
        offsets: list[int] = []
        append_offset, append_work = offsets.append, taken.append
        timestamp = 0
        cohorts, width = state.cohorts, self._cohort_width_ms
        for raw in run:
            offset = raw.offset()
            headers = raw.headers()
            timestamp = raw.timestamp()[1]
            received = received_at(headers, timestamp) if headers else timestamp
            work = Work(
                topic,
                partition,
                offset,
                raw.key(),
                raw.value(),
                timestamp,
                headers or (),
                received,
                epoch,
                now,
            )
            if cohorts is not None:
                if headers and is_replayed(headers):
                    work.column = REPLAYED
                else:
                    cohorts.take(received // width)
            append_work(work)
            append_offset(offset)
        state.tracker.add_run(offsets)
        state.last_timestamp_ms = timestamp
        state.consumed += len(offsets)

    def _release_held(self, key: TopicPartitionKey, state: PartitionState) -> None:
        room = self._window - state.tracker.in_flight
        if room <= 0:
            return
        held = state.held
        run = [held.popleft() for _ in range(min(room, len(held)))]
        released: list[Work] = []
        self._start_run(key, state, run, released)
        self._pool.submit(released)

    def _on_consume_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal():
            raise KafkaException(error)
        log.warning("runtime.consume_error", error=str(error))

    # ----- finishing work -------------------------------------------------------------------

    def _handle_completions(self) -> None:
        get = self._completions.get_nowait
        parts = self._parts
        while True:
            try:
                item = get()
            except Empty:
                return
            if type(item) is not tuple:
                self._handle_sink_report(item)
                continue
            work, outcome = item
            state = parts.get((work.topic, work.partition))
            if state is None or state.epoch != work.epoch:
                continue  # revoked or sought since it was taken
            if type(outcome) is Failure:
                self._dead_letter(work, outcome)
                continue
            if self.limits.max_failure_ratio is not None:
                self._record_outcome(work, failed=False)
            emits: Any = outcome.emits
            if work.column == FORWARDED and state.cohorts is not None:
                work.column = column_of(emits)
            if len(emits) == 1 and type(emits[0]) is Produce and self._transactions is None:
                # the common case, kept cheap
                if self._output.hand_over(work, emits[0]):
                    self._finish(work, state)
                else:
                    self._output.block(work, emits[0])
            else:
                self._dispatch(work, emits)

    def _handle_sink_report(self, item: SinkDone | SinkFailed) -> None:
        if isinstance(item, SinkDone):
            for work, follow_ups in item.written:
                # Follow-ups go out even for revoked work (except exactly-once: _hold): the
                # next owner's write finds the event stored by another message and owes none.
                work.pending -= 1
                self._emit(work, follow_ups)
        else:
            item.task.pending -= 1
            self._dead_letter(item.task, Failure(item.error, 1))

    def _dispatch(self, work: Work, emits: Sequence[Emit]) -> None:
        """Records to the producer, items to the sink; the work finishes when all are done."""
        produces: list[Produce] = []
        writes: list[Any] = []
        for emit in emits:
            if isinstance(emit, Write):
                writes.append(emit.item)
            else:
                produces.append(emit)
        if writes:
            assert self._sink is not None, f"stage {self.spec.name} emitted Write without a sink"
            work.pending += 1
            self._sink.submit(work, writes)
        self._emit(work, produces)

    def _dead_letter(self, work: Work, failure: Failure) -> None:
        """DLQ record plus `invalid` outcomes for a message that cannot be processed; go on."""
        msg = work
        self.metrics.failed.labels(self.spec.name).inc()
        log.warning(
            "runtime.dead_lettered",
            stage=self.spec.name,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            error=failure.error,
            attempts=failure.attempts,
        )
        records = [
            dead_letter_record(
                msg,
                self.spec.dead_letter_topic,
                self.spec.name,
                failure.error,
                failure.attempts,
                self._wall_ms(),
            )
        ]
        if self.spec.on_invalid is not None:
            records.extend(self.spec.on_invalid(msg, failure.error))
        self.metrics.dead_lettered.labels(self.spec.name).inc()
        if work.column != REPLAYED:
            work.column = DEAD_LETTERED
        self._record_outcome(work, failed=True)
        self._emit(work, records)

    def _emit(self, work: Work, records: Sequence[Produce]) -> None:
        """Hand records to the producer; the work is finished once all are handed over (their
        acknowledgement is checked before each commit). Exactly-once stages hold them until
        a commit covers the work's offset."""
        if self._transactions is not None:
            self._hold(work, records)
        else:
            for record in records:
                if not self._output.hand_over(work, record):
                    self._output.block(work, record)
        if work.pending == 0:
            self._finish_current(work)

    def _hold(self, work: Work, records: Sequence[Produce]) -> None:
        state = self._parts.get((work.topic, work.partition))
        if state is None or state.epoch != work.epoch:
            return  # revoked or sought: whoever reads the message next produces them
        offset = work.offset
        state.finished_outputs.extend((offset, carrying(work, record)) for record in records)

    def _release(self, state: PartitionState, below: int) -> None:
        """Hand over the held records of offsets before ``below``, in the order they finished."""
        assert self._transactions is not None
        held = state.finished_outputs
        state.finished_outputs = [(offset, record) for offset, record in held if offset >= below]
        for offset, record in held:
            if offset < below:
                while not self._transactions.hand_over(None, record):
                    self._transactions.serve(0.05)  # the queue drains as the broker acks

    def _finish_current(self, work: Work) -> None:
        state = self._parts.get((work.topic, work.partition))
        if state is not None and state.epoch == work.epoch:
            self._finish(work, state)

    def _finish(self, work: Work, state: PartitionState) -> None:
        """``state`` must be the partition's current one (checked against ``work.epoch``)."""
        state.tracker.done(work.offset)
        now = self._now
        self._processing.observe(now - work.taken_at)
        received = work.received_at_ms
        cohort = self._cohorts.get(received // self._cohort_width_ms)
        if cohort is None:
            cohort = self.metrics.cohort_latency(received)
            self._cohorts = self.metrics.cohorts
        cohort.observe(max(0.0, (self._now_ms - received) / 1000))
        if state.cohorts is not None:
            state.cohorts.finish(work.offset, received // self._cohort_width_ms, work.column)
        if state.held:
            self._release_held((work.topic, work.partition), state)
        elif self._window_full and state.tracker.in_flight <= self._window_resume:
            self._set_pause((work.topic, work.partition), WINDOW_FULL, False)

    def _record_outcome(self, work: Work, failed: bool) -> None:
        limit = self.limits.max_failure_ratio
        if limit is None:
            return
        state = self._parts.get((work.topic, work.partition))
        if state is None:
            return
        recent = state.recent_failures
        recent.append(failed)
        if len(recent) > self.limits.failure_window:
            recent.popleft()
        if len(recent) == self.limits.failure_window and sum(recent) / len(recent) >= limit:
            raise StageHalted(
                f"{sum(recent)} of the last {len(recent)} messages of {work.topic}"
                f"[{work.partition}] failed (limit {limit:.0%}): check the configuration"
            )

    # ----- pressure and pauses --------------------------------------------------------------

    def _total_in_flight(self) -> int:
        return sum(state.tracker.in_flight for state in self._parts.values())

    def _update_pressure(self) -> None:
        total = self._total_in_flight()
        if total >= self.limits.max_in_flight:
            self._set_global_pause(IN_FLIGHT_CAP, True)
        elif total <= self.limits.max_in_flight * self.limits.resume_below:
            self._set_global_pause(IN_FLIGHT_CAP, False)
        queued = self._output.queued
        high = self._output.capacity * self.limits.producer_queue_high
        if queued >= high:
            self._set_global_pause(PRODUCER_QUEUE, True)
        elif queued < high / 2 and not self._output.blocked:
            self._set_global_pause(PRODUCER_QUEUE, False)
        if self._sink is not None:
            self._set_global_pause(SINK_UNAVAILABLE, self._sink.unavailable)
        if self._downstream is not None:
            self._set_global_pause(self._downstream.reason, self._downstream.over_limit)

    def _set_pause(self, key: TopicPartitionKey, reason: str, active: bool) -> None:
        if reason == WINDOW_FULL:
            if active:
                self._window_full.add(key)
            else:
                self._window_full.discard(key)
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
            self._restart_fetch(to_resume)
        self._paused = desired

    def _restart_fetch(self, resumed: set[TopicPartitionKey]) -> None:
        """Seek resumed partitions to where they stopped, so fetching restarts at once.

        librdkafka notices a resume only when its broker thread next wakes up: with every
        partition of that broker paused, nothing is in flight to wake it, and the resumed
        partitions waited up to a second (measured: 800 ms). A seek wakes it. The position is
        the one librdkafka resumes from anyway: the offset after the last message consumed,
        every one of which the loop has taken (a partition with held messages stays paused).
        """
        for key in resumed:
            state = self._parts.get(key)
            if state is not None and state.position is not None and not state.held:
                self._consumer.seek(TopicPartition(key[0], key[1], state.position))

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

    def _commit(
        self, offsets: list[TopicPartition], asynchronous: bool, flush_timeout: float | None
    ) -> None:
        """Commit, after making sure every record handed to the producer is acknowledged.

        ``offsets`` must be computed before the flush: work finished during it is not covered.
        ``flush_timeout=None`` skips the flush, for offsets whose data is durable elsewhere.
        """
        if self._book is not None and offsets:
            offsets = self._count_committed(offsets)
        if self._transactions is not None:
            # Synchronous: a transaction must commit before the next one may begin. Its flush
            # may wait out a partition leader's election after a broker died; a transaction the
            # coordinator timed out meanwhile fences the producer, which registers again
            # (TransactionalOutput), and the partitions are read again.
            self._commit_transaction(offsets, max(flush_timeout or 0.0, TRANSACTION_COMMIT_S))
            return
        if not offsets:
            return
        if flush_timeout is not None and not self._output.acknowledged(flush_timeout):
            return
        try:
            if self._commit_to is not None:
                self._commit_to(offsets)
            elif asynchronous:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("runtime.commit_failed", error=str(exc), asynchronous=asynchronous)
            return
        self._note_committed(offsets)

    def _commit_transaction(self, offsets: list[TopicPartition], timeout_s: float) -> None:
        """Offsets with the records of the work before them; also commits a transaction that
        holds only cohort summaries, before the coordinator's timeout would abort it."""
        assert self._transactions is not None
        try:
            for tp in offsets:
                state = self._parts.get((tp.topic, tp.partition))
                if state is not None:
                    self._release(state, tp.offset)
            self._transactions.commit(offsets, self._consumer.consumer_group_metadata(), timeout_s)
        except TransactionFailed as exc:
            if not exc.recoverable:
                raise StageHalted(f"the transaction was aborted: {exc}") from exc
            self._rewind(str(exc), timeout_s)
            return
        self._note_committed(offsets)

    def _rewind(self, reason: str, timeout_s: float) -> None:
        """After an aborted transaction, read every partition again from its committed offset
        and cohort counts, as a restarted stage would: none of what the transaction held is
        visible, and work still running belongs to the old epoch, so its results are dropped."""
        wanted = [TopicPartition(topic, partition) for topic, partition in self._parts]
        try:
            committed = self._consumer.committed(wanted, timeout=timeout_s) if wanted else []
        except KafkaException as exc:
            raise StageHalted(
                f"the transaction was aborted ({reason}) and the committed offsets to read "
                f"again from are unknown: {exc}"
            ) from exc
        for tp in committed:
            key = (tp.topic, tp.partition)
            state = self._parts.get(key)
            if state is None:
                continue
            if tp.error is not None:
                raise StageHalted(f"the committed offset of {tp.topic}[{tp.partition}]: {tp.error}")
            self._reposition(key, state, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
            if self._book is not None:
                state.cohorts = self._book.open(tp.topic, tp.partition, tp.metadata or None)
        self.metrics.transactions_aborted.labels(self.spec.name).inc()
        log.warning(
            "runtime.transaction_aborted",
            stage=self.spec.name,
            reason=reason,
            read_again_from={f"{tp.topic}[{tp.partition}]": tp.offset for tp in committed},
        )

    def _reposition(self, key: TopicPartitionKey, state: PartitionState, offset: int) -> None:
        """Read the partition again from ``offset`` in a new epoch: completions, held outputs
        and sink reports of the old one are dropped when they arrive."""
        self._epochs += 1
        state.epoch = self._epochs
        state.tracker.reset(max(offset, 0))
        state.held.clear()
        state.finished_outputs.clear()
        self._set_pause(key, WINDOW_FULL, False)
        self._consumer.seek(TopicPartition(key[0], key[1], offset))

    def _count_committed(self, offsets: list[TopicPartition]) -> list[TopicPartition]:
        """The offsets with each partition's cohort counts as commit metadata, after folding
        in what they cover; the summaries go out before the flush that precedes the commit."""
        book = self._book
        assert book is not None
        with_counts = []
        for tp in offsets:
            state = self._parts.get((tp.topic, tp.partition))
            if state is not None and state.cohorts is not None:
                state.cohorts.fold(tp.offset, book.keep)
                tp = TopicPartition(
                    tp.topic, tp.partition, tp.offset, metadata=book.metadata(state.cohorts)
                )
            with_counts.append(tp)
        keys = {(tp.topic, tp.partition) for tp in offsets}
        for record in book.summaries(self._now_ms, only=keys):
            self._output.hand_over(None, record)  # a full queue only delays the summary
        return with_counts

    def _publish_cohorts(self) -> None:
        """What every partition holds, even one that commits nothing (a stuck sink)."""
        if self._book is None or self._now - self._last_publish < self._publish_interval_s:
            return
        self._last_publish = self._now
        for record in self._book.summaries(self._now_ms):
            self._output.hand_over(None, record)

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

    def _add_partition(
        self, key: TopicPartitionKey, metadata: str | None = None, segment: str = ""
    ) -> None:
        """``metadata`` is the partition's last commit metadata: its cohort counts so far."""
        topic, partition = key
        self._epochs += 1
        self._parts[key] = PartitionState(
            epoch=self._epochs,
            cohorts=(
                self._book.open(topic, partition, metadata, segment)
                if self._book is not None
                else None
            ),
            tracker=OffsetTracker(),
            metric_children={
                "consumed": self.metrics.consumed.labels(self.spec.name, str(partition)),
                "lag": self.metrics.lag.labels(self.spec.name, topic, str(partition)),
                "committed": self.metrics.committed_offset.labels(
                    self.spec.name, topic, str(partition)
                ),
            },
        )
        self._pauses.add_partition(key)
        self._paused.discard(key)  # a new assignment starts unpaused

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metadata = self._committed_metadata(consumer, partitions)
        for tp in partitions:
            self._add_partition((tp.topic, tp.partition), metadata.get((tp.topic, tp.partition)))
        consumer.incremental_assign(partitions)
        self._apply_pauses()  # re-apply stage-wide pauses to the new partitions
        log.info(
            "runtime.assigned",
            stage=self.spec.name,
            partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions],
        )

    def _committed_metadata(
        self, consumer: Consumer, partitions: list[TopicPartition]
    ) -> dict[TopicPartitionKey, str]:
        """The cohort counts committed with each partition's offset (none without a book)."""
        if self._book is None or not partitions:
            return {}
        try:
            committed = consumer.committed(
                [TopicPartition(tp.topic, tp.partition) for tp in partitions],
                timeout=self.limits.revoke_grace_s + 5,
            )
        except KafkaException as exc:
            log.warning("runtime.cohorts_not_restored", stage=self.spec.name, error=str(exc))
            return {}
        return {(tp.topic, tp.partition): tp.metadata for tp in committed if tp.metadata}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [
            (tp.topic, tp.partition) for tp in partitions if (tp.topic, tp.partition) in self._parts
        ]
        for key in keys:
            self._parts[key].revoking = True
        deadline = self._clock() + self.limits.revoke_grace_s
        while self._clock() < deadline and any(self._parts[k].tracker.in_flight for k in keys):
            self._handle_completions()
            self._output.serve(0.01)
            self._output.retry_blocked(self._finish_current)
        self._handle_completions()
        self._commit(
            self._commit_positions(keys),
            asynchronous=False,
            flush_timeout=max(0.5, deadline - self._clock()),
        )
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
        if self._book is not None:
            self._book.close(*key)
        self._window_full.discard(key)
        self._pauses.remove_partition(key)
        self._paused.discard(key)

    # ----- observation ----------------------------------------------------------------------

    def _observe(self) -> None:
        for topic, count in self._output.produced.items():
            self.metrics.produced.labels(self.spec.name, topic).inc(count)
        self._output.produced.clear()
        self.metrics.in_flight.labels(self.spec.name).set(self._total_in_flight())
        self.metrics.paused_partitions.labels(self.spec.name).set(len(self._paused))
        self.metrics.waiting_calls.labels(self.spec.name).set(self._pool.waiting)
        self.metrics.worker_threads.labels(self.spec.name).set(self._pool.threads)
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
        self._publish_cohorts()
        for hook in self._tick_hooks:
            hook(self)


def runnable_threads(spec: StageSpec, limits: RuntimeSettings) -> int:
    """The setting when an operator gave one, else what the stage declares for its work."""
    return limits.runnable_threads or spec.runnable_threads
