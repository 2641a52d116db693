"""The stage's producer side: handing records over, holding those there is no room for yet,
sending again what failed delivery, and telling the commit when everything is acknowledged.

Acknowledgement is checked per commit (flush, then commit), not per record: a delivery callback
per record cost more than consuming the record did. So only failures are reported
(``delivery.report.only.error``). Owned by the consumer loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import structlog
from confluent_kafka import KafkaError, Message, Producer

from pipeline.cohorts.counts import REPLAYED_HEADER
from pipeline.runtime.messages import RECEIVED_AT_HEADER, Headers, Produce
from pipeline.runtime.partition import Work

log = structlog.get_logger()


class Output:
    def __init__(self, producer_config: dict[str, Any], on_full: Callable[[], None]) -> None:
        """``on_full`` is called whenever the producer queue refuses a record."""
        self._producer_config = {
            **producer_config,
            "delivery.report.only.error": True,
            "on_delivery": self._delivery_failed,
        }
        self._producer = Producer(self._producer_config)
        self._on_full = on_full
        self.capacity = int(producer_config.get("queue.buffering.max.messages", 100000))
        self.blocked: list[tuple[Work, Produce]] = []
        """Records the queue had no room for, in order; each holds its work unfinished."""
        self._redeliver: list[Produce] = []
        self.fatal: str | None = None
        """Set when a delivery failed for good: nothing may be committed past it."""
        self.produced: dict[str, int] = {}
        """Records handed over per topic since the metrics last took them."""

    @property
    def queued(self) -> int:
        """Records in the producer not yet acknowledged."""
        return len(self._producer)

    def hand_over(self, work: Work | None, record: Produce) -> bool:
        """Produce ``record`` (carrying the input's receive time and replay mark); False if there
        is no room."""
        headers = record.headers
        if work is not None and work.headers:
            headers = _carried(work, headers)
        try:
            self._producer.produce(
                record.topic,
                value=record.value,
                key=record.key,
                headers=list(headers) if headers else None,  # librdkafka rejects tuples
            )
        except BufferError:
            self._on_full()
            return False
        self.produced[record.topic] = self.produced.get(record.topic, 0) + 1
        return True

    def block(self, work: Work, record: Produce) -> None:
        """The queue is full: the record waits, in order, and holds its work open."""
        work.pending += 1
        self.blocked.append((work, record))

    def retry_blocked(self, finished: Callable[[Work], None]) -> None:
        """Hand over what waited, in order, until the queue is full again; ``finished`` is
        called for each work whose last record went out."""
        while self._redeliver and self.hand_over(None, self._redeliver[0]):
            self._redeliver.pop(0)
        if not self.blocked:
            return
        blocked, self.blocked = self.blocked, []
        for index, (work, record) in enumerate(blocked):
            if not self.hand_over(work, record):
                self.blocked.extend(blocked[index:])  # still full: keep the order, try later
                return
            work.pending -= 1
            if work.pending == 0:
                finished(work)

    def serve(self, timeout: float = 0) -> None:
        """Serve delivery failures (and librdkafka's other callbacks)."""
        self._producer.poll(timeout)

    def acknowledged(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for everything handed over; True if all of it is acknowledged
        and nothing failed, so offsets computed before the call may be committed."""
        remaining = self._producer.flush(timeout)
        if remaining or self._redeliver or self.fatal is not None:
            log.warning("runtime.commit_deferred", unacknowledged=remaining)
            return False
        return True

    def _delivery_failed(self, error: KafkaError, msg: Message) -> None:
        """librdkafka has already retried for delivery.timeout.ms: a retriable failure is
        produced again, any other stops the stage before offsets covering it are committed."""
        if not error.retriable() and error.code() != KafkaError._MSG_TIMED_OUT:
            self.fatal = f"delivery to {msg.topic()} failed: {error}"
            return
        log.warning("runtime.delivery_failed", topic=msg.topic(), error=str(error))
        record = Produce(
            topic=cast(str, msg.topic()),
            value=msg.value(),
            key=msg.key(),
            headers=cast(list[tuple[str, bytes]] | None, msg.headers()) or (),
        )
        if not self.hand_over(None, record):
            self._redeliver.append(record)


CARRIED_HEADERS = (RECEIVED_AT_HEADER, REPLAYED_HEADER)
"""Headers of an input message its outputs inherit: its cohort, and whether it is a replay."""


def carrying(work: Work, record: Produce) -> Produce:
    """``record`` with the headers it inherits from ``work``, for records produced later."""
    if not work.headers:
        return record
    return Produce(record.topic, record.value, record.key, _carried(work, record.headers))


def _carried(work: Work, headers: Headers) -> Headers:
    for name in CARRIED_HEADERS:
        value = work.header(name)
        if value is not None and not any(n == name for n, _ in headers):
            headers = [*headers, (name, value)]
    return headers
