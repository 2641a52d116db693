"""What is measured: bare confluent-kafka loops (with no work, or a real stage's work) and the
stage runtime on a thread of its own."""

from __future__ import annotations

import contextlib
import cProfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from confluent_kafka import Consumer, KafkaException, Message, Producer
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.runtime.messages import InputMessage, Processed, Produce, Write, received_at
from pipeline.runtime.runner import build_runtime
from pipeline.runtime.stage import StageSpec, is_async

Pauses = dict[str, int]


class Running(Protocol):
    def stop(self) -> Pauses:
        """Stop, wait for the loop to end, and return its pause counts by reason."""


def bare_clients(bootstrap: str, group: str) -> tuple[Consumer, Producer]:
    """librdkafka's defaults but for what any loop of this kind sets: manual commits, from the
    earliest offset, and a producer that batches a little and compresses."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "enable.idempotence": True,
            "compression.type": "lz4",
        }
    )
    return consumer, producer


class BareLoop:
    """The floor any runtime pays on top of: consume a batch, produce each, poll, commit async.

    Not at-least-once (it commits before delivery); that is the point of a baseline.
    """

    def __init__(self, bootstrap: str, group: str, input_topic: str, output_topic: str) -> None:
        self._consumer, self._producer = bare_clients(bootstrap, group)
        self._input = input_topic
        self._output = output_topic
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bare-loop", daemon=True)

    def start(self) -> BareLoop:
        self._thread.start()
        return self

    def stop(self) -> Pauses:
        self._stopping.set()
        self._thread.join(60)
        return {}

    def _run(self) -> None:
        consumer, producer, output = self._consumer, self._producer, self._output
        produce = producer.produce
        consumer.subscribe([self._input])
        while not self._stopping.is_set():
            batch = consumer.consume(500, 0.1)
            for msg in batch:
                if msg.error() is not None:
                    continue
                while True:
                    try:
                        produce(output, value=msg.value(), key=msg.key())
                        break
                    except BufferError:
                        producer.poll(0.01)
            producer.poll(0)
            if batch:
                # An error-only batch has nothing to commit.
                with contextlib.suppress(KafkaException):
                    consumer.commit(asynchronous=True)
        producer.flush(30)
        consumer.close()


class StageLoop:
    """The floor for a real stage: its own process function and sink in the simplest loop that
    is still at-least-once. Consume a batch, process it (``spec.process_batch`` where the stage
    has one, else ``spec.process`` per message), write the sink's items in batches of
    ``spec.sink_batch_size``, produce the records and the sink's follow-ups, flush, commit.

    One thread, no pipelining, no retries, no dead letters, no transactions (the runtime's
    exactly-once store commits outcomes in one): what the runtime adds is what it costs.
    """

    def __init__(self, spec: StageSpec, bootstrap: str, group: str) -> None:
        if spec.process is not None and is_async(spec.process):
            raise ValueError(f"stage {spec.name}: the bare loop runs plain process functions")
        self._spec = spec
        self._consumer, self._producer = bare_clients(bootstrap, group)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{spec.name}-bare", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> StageLoop:
        self._thread.start()
        return self

    def stop(self) -> Pauses:
        self._stopping.set()
        self._thread.join(120)
        if self._error is not None:
            raise RuntimeError(f"bare loop of {self._spec.name} failed") from self._error
        return {}

    def _run(self) -> None:
        consumer, spec = self._consumer, self._spec
        consumer.subscribe([spec.input_topic])
        try:
            while not self._stopping.is_set():
                batch = [input_message(m) for m in consumer.consume(500, 0.1) if not m.error()]
                if not batch:
                    continue
                self._produce(self._outputs(batch))
                self._producer.flush(60)
                consumer.commit(asynchronous=True)  # covers only what the flush acknowledged
        except BaseException as exc:  # reported by stop() on the caller's thread
            self._error = exc
        finally:
            consumer.close()
            if spec.sink is not None:
                spec.sink.close()
            if spec.on_close is not None:
                spec.on_close()

    def _outputs(self, batch: Sequence[InputMessage]) -> list[Produce]:
        records: list[Produce] = []
        items: list[Any] = []
        for processed in self._process(batch):
            for emit in processed.emits:
                if isinstance(emit, Write):
                    items.append(emit.item)
                else:
                    records.append(emit)
        sink = self._spec.sink
        if items and sink is not None:
            for chunk in chunks(items, self._spec.sink_batch_size):
                for follow_ups in sink.write(chunk):
                    records.extend(follow_ups)
        return records

    def _process(self, batch: Sequence[InputMessage]) -> list[Processed]:
        # getattr: StageSpec.process_batch is new; this loop runs with and without it.
        process_batch: Callable[[Sequence[InputMessage]], Sequence[Processed]] | None = getattr(
            self._spec, "process_batch", None
        )
        if process_batch is not None:
            # It takes one partition's messages in offset order.
            return [done for part in by_partition(batch) for done in process_batch(part)]
        process = self._spec.process
        assert process is not None and not is_async(process)  # refused in __init__
        return [process(msg) for msg in batch]

    def _produce(self, records: Sequence[Produce]) -> None:
        producer = self._producer
        for record in records:
            headers = cast(Any, list(record.headers)) if record.headers else None  # no tuples
            while True:
                try:
                    producer.produce(record.topic, record.value, record.key, headers=headers)
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.poll(0)


def input_message(raw: Message) -> InputMessage:
    """What the engine hands a process function (pipeline.runtime.engine builds the same fields
    into its Work objects), without the runtime's bookkeeping."""
    headers = cast(list[tuple[str, bytes]] | None, raw.headers()) or ()
    timestamp = raw.timestamp()[1]
    return InputMessage(
        raw.topic() or "",
        raw.partition() or 0,
        raw.offset() or 0,
        raw.key(),
        raw.value(),
        timestamp,
        headers,
        received_at(headers, timestamp) if headers else timestamp,
    )


def by_partition(batch: Sequence[InputMessage]) -> list[list[InputMessage]]:
    """A consumed batch split by partition, each in the order consumed (offset order)."""
    parts: dict[tuple[str, int], list[InputMessage]] = {}
    for msg in batch:
        parts.setdefault((msg.topic, msg.partition), []).append(msg)
    return list(parts.values())


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RuntimeThread:
    """A StageRuntime built like `pipeline run` builds it, run on a thread (optionally profiled)."""

    def __init__(self, spec: StageSpec, settings: Settings, profile_to: Path | None = None) -> None:
        self._spec = spec
        self._registry = CollectorRegistry()
        self._runtime = build_runtime(spec, settings, self._registry)
        self._profile_to = profile_to
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"{spec.name}-loop", daemon=True)

    def start(self) -> RuntimeThread:
        self._thread.start()
        return self

    def stop(self) -> Pauses:
        self._runtime.request_stop()
        self._thread.join(120)
        if self._thread.is_alive():
            raise TimeoutError(f"runtime {self._spec.name} did not stop within 120s")
        if self._error is not None:
            raise RuntimeError(f"runtime {self._spec.name} failed") from self._error
        return pause_counts(self._registry)

    def _run(self) -> None:
        profiler = cProfile.Profile() if self._profile_to is not None else None
        try:
            if profiler is not None:
                profiler.runcall(self._runtime.run)
            else:
                self._runtime.run()
        except BaseException as exc:  # reported by stop() on the caller's thread
            self._error = exc
        finally:
            if profiler is not None and self._profile_to is not None:
                profiler.dump_stats(self._profile_to)


def pause_counts(registry: CollectorRegistry) -> Pauses:
    counts: Pauses = {}
    for metric in registry.collect():
        if metric.name != "pipeline_pauses":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                counts[sample.labels["reason"]] = int(sample.value)
    return counts
