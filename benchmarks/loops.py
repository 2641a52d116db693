"""What is measured: a bare confluent-kafka loop, and the stage runtime on a thread of its own."""

from __future__ import annotations

import contextlib
import cProfile
import threading
from pathlib import Path
from typing import Protocol

from confluent_kafka import Consumer, KafkaException, Producer
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.runtime.runner import build_runtime
from pipeline.runtime.stage import StageSpec

Pauses = dict[str, int]


class Running(Protocol):
    def stop(self) -> Pauses:
        """Stop, wait for the loop to end, and return its pause counts by reason."""


class BareLoop:
    """The floor any runtime pays on top of: consume a batch, produce each, poll, commit async.

    Not at-least-once (it commits before delivery); that is the point of a baseline.
    """

    def __init__(self, bootstrap: str, group: str, input_topic: str, output_topic: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 5,
                "enable.idempotence": True,
                "compression.type": "lz4",
            }
        )
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
