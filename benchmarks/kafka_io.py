"""The benchmark's side of Kafka: topics, pre-filling inputs, watching and reading outputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.progress import Progress, Sample

FAST_PRODUCER = {
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 2_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
}


class Topics:
    """Creates uniquely prefixed topics and deletes them all at the end."""

    def __init__(self, bootstrap: str, prefix: str, partitions: int) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.partitions = partitions
        self._admin = AdminClient({"bootstrap.servers": bootstrap})
        self._created: list[str] = []

    def create(self, *names: str) -> list[str]:
        topics = [self.prefix + name for name in names]
        futures = self._admin.create_topics(
            [NewTopic(t, num_partitions=self.partitions, replication_factor=1) for t in topics]
        )
        for future in futures.values():
            future.result(timeout=30)
        self._created.extend(topics)
        for topic in topics:
            self._wait_for_leaders(topic, timeout_s=30)
        return topics

    def delete_all(self) -> None:
        if not self._created:
            return
        for future in self._admin.delete_topics(self._created, operation_timeout=30).values():
            try:
                future.result(timeout=30)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
        self._created.clear()

    def _wait_for_leaders(self, topic: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self._admin.list_topics(topic=topic, timeout=10).topics.get(topic)
            if (
                found is not None
                and found.error is None
                and len(found.partitions) == self.partitions
                and all(p.leader >= 0 and p.error is None for p in found.partitions.values())
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"topic {topic} has no leader for every partition after {timeout_s}s")


def prefill(
    bootstrap: str, topic: str, partitions: int, count: int, value: Callable[[int], bytes]
) -> float:
    """Write ``count`` messages round-robin over the partitions; returns the seconds it took."""
    started = time.monotonic()
    producer = Producer({"bootstrap.servers": bootstrap, **FAST_PRODUCER})
    produce = producer.produce
    for i in range(count):
        while True:
            try:
                produce(topic, value=value(i), partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 20_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise TimeoutError(f"pre-filling {topic} did not finish within 120s")
    return time.monotonic() - started


_NOT_READY = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART}


class OutputWatch:
    """Counts messages in a topic by its high-water marks (outputs are never transactional)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watch"})
        self._parts = [TopicPartition(topic, p) for p in range(partitions)]

    def count(self) -> int | None:
        """None while the broker is not ready to answer (a topic created moments ago)."""
        try:
            return sum(
                self._consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
                for tp in self._parts
            )
        except KafkaException as exc:
            if exc.args[0].retriable() or exc.args[0].code() in _NOT_READY:
                return None
            raise

    def wait(self, total: int, started: float, deadline_s: float, every_s: float) -> Progress:
        """Sample until ``total`` messages are there or ``deadline_s`` after ``started``."""
        return wait_for(self.count, total, started, deadline_s, every_s)

    def close(self) -> None:
        self._consumer.close()


def wait_for(
    count: Callable[[], int | None],
    total: int,
    started: float,
    deadline_s: float,
    every_s: float,
    on_sample: Callable[[float], None] | None = None,
) -> Progress:
    """Sample ``count`` (None: not ready to answer) until it reaches ``total`` or ``deadline_s``
    after ``started``; any count of finished work will do, an output topic's or a database's.
    ``on_sample`` is called with each sample's time, to sample something else alongside."""
    samples: list[Sample] = []
    while True:
        done = count()
        # Stamped once the count is in: a call can block (metadata of a topic created moments
        # ago), and a count stamped before it once made a whole fast run look done at its start.
        now = time.monotonic()
        if on_sample is not None:
            on_sample(now)
        if done is not None:
            samples.append((now, done))
        if (done is not None and done >= total) or now - started >= deadline_s:
            return Progress(started, total, tuple(samples))
        time.sleep(every_s)


@contextmanager
def watching(bootstrap: str, topic: str, partitions: int) -> Iterator[OutputWatch]:
    watch = OutputWatch(bootstrap, topic, partitions)
    try:
        yield watch
    finally:
        watch.close()


def read_all(
    bootstrap: str, topic: str, partitions: int, count: int, timeout_s: float
) -> list[tuple[bytes | None, int]]:
    """(key, CreateTime in ms) of the first ``count`` messages of the topic."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-read", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: list[tuple[bytes | None, int]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < count and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error() is None:
                    found.append((msg.key(), msg.timestamp()[1]))
    finally:
        consumer.close()
    return found
