"""The compacted ledger topic: synchronous writes of ranges and tombstones, and reading it back.

Keys are ``group/topic/partition/origin_start``; a value is a ``backlog_range`` record, a
tombstone (no value) marks a range drained. A write returns only once the broker acknowledged
it (acks=all), because the live consumer skips the range right after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from pipeline.adapters.kafka.codec import Codec, DecodeError
from pipeline.backlog.ledger_state import LedgerPosition, LedgerState
from pipeline.backlog.ranges import SCHEMA, BacklogRange
from pipeline.errors import UserError

log = structlog.get_logger()

READER_GROUP = "pipeline.backlog-reader"


class LedgerUnavailable(UserError):
    """The ledger topic is missing or cannot be read to its end."""


@dataclass(frozen=True)
class Written:
    """An acknowledged ledger record: ``range`` None for a tombstone."""

    key: str
    position: LedgerPosition
    range: BacklogRange | None


class LedgerWriter:
    def __init__(
        self, producer_config: dict[str, Any], topic: str, codec: Codec, timeout_s: float
    ) -> None:
        self.topic = topic
        self._codec = codec
        self._timeout_s = timeout_s
        self._producer = Producer(
            {
                **producer_config,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                # A ledger created by accident would not be compacted: topics.yaml makes it.
                "allow.auto.create.topics": False,
            }
        )
        self._topic_seen = False

    def put(self, ranges: Sequence[BacklogRange]) -> list[Written]:
        """Record ranges (new, or with progress); raises KafkaException unless all are acked."""
        return self._send([(r.key, r) for r in ranges], [])

    def tombstone(self, ranges: Sequence[BacklogRange]) -> list[Written]:
        return self._send([], [r.key for r in ranges])

    def write(
        self, puts: Sequence[BacklogRange], tombstones: Sequence[BacklogRange]
    ) -> list[Written]:
        """Both kinds in one acknowledged batch."""
        return self._send([(r.key, r) for r in puts], [r.key for r in tombstones])

    def _send(
        self, puts: Sequence[tuple[str, BacklogRange]], tombstones: Sequence[str]
    ) -> list[Written]:
        self._check_topic()
        reports: list[tuple[KafkaError | None, Message]] = []

        def delivered(error: KafkaError | None, msg: Message) -> None:
            reports.append((error, msg))

        sent: dict[str, BacklogRange | None] = {}
        for key, rng in puts:
            value = self._codec.encode(SCHEMA, rng.to_record(), self.topic)
            self._producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
            sent[key] = rng
        for key in tombstones:
            self._producer.produce(self.topic, key=key, value=None, on_delivery=delivered)
            sent[key] = None
        if self._producer.flush(self._timeout_s) > 0:
            raise KafkaException(
                KafkaError(
                    KafkaError._TIMED_OUT,
                    f"ledger {self.topic}: write not acknowledged within {self._timeout_s}s",
                    retriable=True,
                )
            )
        written = []
        for error, msg in reports:
            if error is not None:
                raise KafkaException(error)
            key = (msg.key() or b"").decode()
            position = LedgerPosition(msg.partition() or 0, msg.offset() or 0)
            written.append(Written(key, position, sent[key]))
        return written

    def _check_topic(self) -> None:
        """Fail fast on a missing ledger instead of waiting for the ack timeout each time."""
        if self._topic_seen:
            return
        found = self._producer.list_topics(self.topic, timeout=self._timeout_s).topics.get(
            self.topic
        )
        if found is None or found.error is not None or not found.partitions:
            raise KafkaException(
                KafkaError(
                    KafkaError.UNKNOWN_TOPIC_OR_PART,
                    f"the backlog ledger topic {self.topic} does not exist:"
                    " run `pipeline topics apply`",
                )
            )
        self._topic_seen = True


class LedgerReader:
    """Reads the whole ledger from the beginning, then follows it; folds it into ``state``."""

    def __init__(
        self,
        consumer_config: dict[str, Any],
        topic: str,
        codec: Codec,
        state: LedgerState,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self.state = state
        self._clock = clock
        self._codec = codec
        self._consumer = Consumer(
            {
                **consumer_config,
                "group.id": READER_GROUP,  # required by the client; never joined or committed
                "enable.partition.eof": True,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        found = self._consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            self._consumer.close()
            raise LedgerUnavailable(
                f"the backlog ledger topic {topic} does not exist: run `pipeline topics apply`"
            )
        self._partitions = set(found.partitions)
        self._at_end: set[int] = set()
        self._next: dict[int, int] = {}  # per partition: one past the last record read
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in found.partitions]
        )

    def catch_up(self, timeout_s: float) -> None:
        """Read up to the high watermarks of the moment (blocks; for start-up and the CLI).

        Not "until end of partition": while other drains record progress every second, a
        long-polling fetch keeps finding new records and never reports the end.
        """
        deadline = self._clock() + timeout_s
        targets = {p: self._high_watermark(p, timeout_s) for p in self._partitions}
        while any(
            p not in self._at_end and self._next.get(p, 0) < target for p, target in targets.items()
        ):
            if self._clock() >= deadline:
                raise LedgerUnavailable(
                    f"the backlog ledger topic {self.topic} could not be read to its end within"
                    f" {timeout_s:.0f}s"
                )
            self._apply(self._consumer.consume(num_messages=1000, timeout=0.1))

    def poll(self, max_messages: int = 10_000) -> None:
        """Apply whatever arrived since the last call, without waiting."""
        while max_messages > 0:
            batch = self._consumer.consume(num_messages=min(1000, max_messages), timeout=0)
            self._apply(batch)
            max_messages -= len(batch)
            if len(batch) < 1000:
                return

    def close(self) -> None:
        self._consumer.close()

    def _high_watermark(self, partition: int, timeout_s: float) -> int:
        """Retried: right after the topic was created or a leader moved the broker says no."""
        try:
            for attempt in Retrying(
                stop=stop_after_delay(timeout_s),
                wait=wait_exponential(multiplier=0.05, max=1.0),
                retry=retry_if_exception_type(KafkaException),
                reraise=True,
            ):
                with attempt:
                    _, high = self._consumer.get_watermark_offsets(
                        TopicPartition(self.topic, partition), timeout=timeout_s, cached=False
                    )
        except KafkaException as exc:
            raise LedgerUnavailable(
                f"the backlog ledger topic {self.topic} cannot be read: {exc}"
            ) from None
        return int(high)

    def _apply(self, messages: list[Message]) -> None:
        for msg in messages:
            error = msg.error()
            partition = msg.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add(partition)
                else:
                    log.warning("backlog.ledger_read_error", topic=self.topic, error=str(error))
                continue
            self._at_end.discard(partition)
            key = (msg.key() or b"").decode()
            position = LedgerPosition(partition, msg.offset() or 0)
            self._next[partition] = position.offset + 1
            value = msg.value()
            if value is None:
                self.state.apply(key, position, None)
                continue
            try:
                rng = BacklogRange.from_record(self._codec.decode(SCHEMA, value, self.topic))
            except DecodeError as exc:
                log.warning(
                    "backlog.ledger_unreadable", key=key, offset=position.offset, error=str(exc)
                )
                continue
            self.state.apply(key, position, rng)
