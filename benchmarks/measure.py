"""Two kinds of run: drain a pre-filled backlog (throughput), or feed a paced stream (latency)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Producer

from benchmarks.kafka_io import Topics, prefill, read_all, wait_for, watching
from benchmarks.loops import Pauses, Running
from benchmarks.progress import Latency, Progress, busy_per_item, latency

StartStage = Callable[[str, str, str], Running]
"""(input topic, output topic, group id) -> a started stage."""

SAMPLE_EVERY_S = 0.05


@dataclass
class Bench:
    """What every case shares: the broker, the topic namespace, and inputs already filled."""

    topics: Topics
    say: Callable[[str], None]
    _inputs: dict[str, str] = field(default_factory=dict)
    _runs: int = 0

    @property
    def bootstrap(self) -> str:
        return self.topics.bootstrap

    @property
    def partitions(self) -> int:
        return self.topics.partitions

    def input(self, name: str, count: int, value: Callable[[int], bytes]) -> str:
        """A topic of ``count`` messages, filled once and read by any number of groups."""
        if name not in self._inputs:
            (topic,) = self.topics.create(name)
            seconds = prefill(self.bootstrap, topic, self.partitions, count, value)
            self.say(f"pre-filled {name}: {count:,} messages in {seconds:.1f}s")
            self._inputs[name] = topic
        return self._inputs[name]

    def label(self, name: str) -> str:
        """A name no earlier run used, for output topics and group ids."""
        self._runs += 1
        return f"{name}-{self._runs}"


@dataclass(frozen=True)
class Drained:
    progress: Progress
    pauses: Pauses
    cpu_s: float
    """CPU time of this process (every thread; not worker processes) from start to stop."""
    cpu_trace: tuple[tuple[float, float], ...] = ()
    """(monotonic time, CPU seconds of this process) at each count sample."""

    @property
    def cpu_us_per_message(self) -> float | None:
        done = self.progress.done
        return self.cpu_s / done * 1e6 if done else None

    @property
    def busy_cpu_us_per_message(self) -> float | None:
        """CPU per message while busy (10% to 90% done): no start-up, join or shutdown in it."""
        per_item = busy_per_item(self.progress, self.cpu_trace)
        return None if per_item is None else per_item * 1e6


def drain(
    bench: Bench, name: str, input_topic: str, total: int, start: StartStage, deadline_s: float
) -> Drained:
    """Run a stage over a pre-filled input until ``total`` outputs exist or the deadline."""
    label = bench.label(name)
    (output,) = bench.topics.create(label + ".out")
    with watching(bench.bootstrap, output, bench.partitions) as watch:
        group = bench.topics.prefix + label
        return drain_counted(
            bench, label, watch.count, total, lambda: start(input_topic, output, group), deadline_s
        )


def drain_counted(
    bench: Bench,
    label: str,
    count: Callable[[], int | None],
    total: int,
    start: Callable[[], Running],
    deadline_s: float,
) -> Drained:
    """Start a stage, wait until ``count`` (its finished work: outputs, rows) reaches ``total``
    or the deadline, stop it; process CPU is sampled with every count."""
    trace: list[tuple[float, float]] = []

    def sample_cpu(now: float) -> None:
        trace.append((now, time.process_time()))

    count()  # a first count can block (a new topic's metadata): not on the run's clock
    load = os.getloadavg()[0]
    cpu_started = time.process_time()
    started = time.monotonic()
    running = start()
    try:
        progress = wait_for(count, total, started, deadline_s, SAMPLE_EVERY_S, sample_cpu)
    finally:
        pauses = running.stop()
    drained = Drained(progress, pauses, time.process_time() - cpu_started, tuple(trace))
    bench.say(
        f"{label}: {progress.steady_rate():,.0f} msg/s ({progress.done:,}/{total:,} out), "
        f"{us(drained.busy_cpu_us_per_message)} us CPU/msg busy "
        f"({us(drained.cpu_us_per_message)} start to stop), load {load:.1f}, "
        f"pauses={pauses}"
    )
    return drained


def us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


@dataclass(frozen=True)
class Paced:
    fast: Latency | None
    slow: Latency | None
    pauses: Pauses


def paced(
    bench: Bench,
    name: str,
    start: StartStage,
    rate: int,
    seconds: float,
    value: Callable[[int], bytes],
    is_slow: Callable[[int], bool],
) -> Paced:
    """Feed ``rate`` msg/s to a running stage; latency = output CreateTime - send time.

    The key carries the send time (every stage here copies keys through), so no clock is
    needed inside the stage. One message per partition warms the stage up first.
    """
    label = bench.label(name)
    input_topic, output = bench.topics.create(label + ".in", label + ".out")
    warm, count = bench.partitions, int(rate * seconds)
    producer = Producer({"bootstrap.servers": bench.bootstrap, "linger.ms": 1})
    with watching(bench.bootstrap, output, bench.partitions) as watch:
        running = start(input_topic, output, bench.topics.prefix + label)
        try:
            for partition in range(warm):
                producer.produce(input_topic, value=value(-1), key=b"warm", partition=partition)
            producer.flush(30)
            watch.wait(warm, time.monotonic(), 60, SAMPLE_EVERY_S)
            _pace(producer, input_topic, bench.partitions, rate, count, value)
            progress = watch.wait(warm + count, time.monotonic(), 60, SAMPLE_EVERY_S)
        finally:
            pauses = running.stop()
    if progress.elapsed_s is None:
        raise TimeoutError(f"{label}: only {progress.done} of {warm + count} outputs arrived")
    fast: list[float] = []
    slow: list[float] = []
    for key, created_ms in read_all(bench.bootstrap, output, bench.partitions, warm + count, 60):
        if key is None or key == b"warm":
            continue
        index, sent_us = (int(part) for part in key.split(b":"))
        (slow if is_slow(index) else fast).append(created_ms - sent_us / 1000)
    result = Paced(latency(fast), latency(slow), pauses)
    bench.say(f"{label}: fast {result.fast} slow {result.slow} pauses={pauses}")
    return result


def _pace(
    producer: Producer,
    topic: str,
    partitions: int,
    rate: int,
    count: int,
    value: Callable[[int], bytes],
) -> None:
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        key = f"{i}:{time.time_ns() // 1000}".encode()
        producer.produce(topic, value=value(i), key=key, partition=i % partitions)
        producer.poll(0)
    producer.flush(30)
