"""Sending generated records to Kafka at a rate, counting what the broker acknowledged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipeline.adapters.kafka.codec import Codec
from pipeline.errors import UserError
from pipeline.generator.factory import EventFactory, GeneratedRecord
from pipeline.rate_limit import TokenBucket
from pipeline.runtime.clients import producer_config
from pipeline.runtime.messages import RECEIVED_AT_HEADER

log = structlog.get_logger()

RAW_TOPIC = "events.raw"
"""The topics.yaml name the generator writes to (before the topic prefix)."""


@dataclass
class SendStats:
    """Live counters, written by the sending thread and read by progress displays."""

    events: int = 0
    """Distinct events sent (what ``count`` limits)."""
    records: int = 0
    """Records produced, duplicates included."""
    invalid: int = 0
    stale: int = 0
    duplicates: int = 0
    acknowledged: int = 0
    failed: int = 0
    unacknowledged: int = 0
    """Still waiting for a delivery report when the final flush gave up."""
    elapsed_s: float = 0.0
    stopped_early: bool = False
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def all_acknowledged(self) -> bool:
        return self.failed == 0 and self.unacknowledged == 0

    def count(self, generated: GeneratedRecord) -> None:
        self.records += 1
        if generated.kind == "duplicate":
            self.duplicates += 1
            return
        self.events += 1
        if generated.kind == "invalid":
            self.invalid += 1
        elif generated.kind == "stale":
            self.stale += 1


def generator_producer(base_config: dict[str, object], topic: str, timeout_s: float) -> Producer:
    """A producer for ``topic``, which must exist: a typo must not create a topic by accident."""
    producer = Producer(
        {**producer_config(dict(base_config), "generate"), "allow.auto.create.topics": False}
    )
    try:
        metadata = producer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise UserError(
            f"cannot reach Kafka at {base_config['bootstrap.servers']}: {exc}"
        ) from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise UserError(f"topic {topic} does not exist; run `pipeline topics apply` first")
    return producer


class Sender(Protocol):
    """Where ``send_events`` hands each record: Kafka (``EventSender``) or the edge over HTTP."""

    def send(self, generated: GeneratedRecord) -> None: ...
    def flush(self, timeout_s: float) -> None: ...


class EventSender:
    def __init__(self, producer: Producer, codec: Codec, topic: str, stats: SendStats) -> None:
        self._producer = producer
        self._codec = codec
        self._topic = topic
        self._stats = stats

    def send(self, generated: GeneratedRecord) -> None:
        record = generated.record
        value = self._codec.encode("raw_event", record, self._topic)
        received = generated.received_at_ms
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value=value,
                    key=record["event_id"].encode() or None,
                    headers=[(RECEIVED_AT_HEADER, str(received).encode("ascii"))],
                    timestamp=received,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self._producer.poll(0.1)
        self._stats.count(generated)
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        self._stats.unacknowledged = self._producer.flush(timeout_s)

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self._stats.acknowledged += 1
            return
        self._stats.failed += 1
        if self._stats.first_error is None:
            self._stats.first_error = error.str()
            log.warning("generate.delivery_failed", topic=self._topic, error=error.str())


def send_events(
    factory: EventFactory,
    sender: Sender,
    stats: SendStats,
    *,
    count: int | None,
    limiter: TokenBucket | None,
    stop: threading.Event,
    flush_timeout_s: float,
    now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    clock: Callable[[], float] = time.monotonic,
    on_sent: Callable[[], None] = lambda: None,
) -> SendStats:
    """Send ``count`` events (None: until ``stop``), then wait for every delivery report."""
    started = clock()
    while (count is None or stats.events < count) and not stop.is_set():
        for generated in factory.next(now_ms()):
            if limiter is not None and stop.wait(limiter.reserve()):
                break
            sender.send(generated)
        on_sent()
    stats.stopped_early = count is not None and stats.events < count
    sender.flush(flush_timeout_s)
    stats.elapsed_s = clock() - started
    on_sent()
    log.debug(
        "generate.finished",
        records=stats.records,
        acknowledged=stats.acknowledged,
        failed=stats.failed,
        unacknowledged=stats.unacknowledged,
    )
    return stats
