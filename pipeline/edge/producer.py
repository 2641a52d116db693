"""The edge's Kafka producer, awaited from asyncio: a delivery report resolves a future.

One thread serves delivery reports (``poll``) so the event loop never blocks in librdkafka.
The producer's local queue is the bounded buffer: when it is full, ``produce`` raises
``BufferError`` and the edge answers 503 instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import structlog
from confluent_kafka import KafkaError, Message, Producer

from pipeline.runtime.messages import Produce

log = structlog.get_logger()


class DeliveryFailed(Exception):
    """The broker did not take the record (unreachable, timed out, refused)."""


class AsyncProducer:
    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="edge-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def send(self, record: Produce) -> asyncio.Future[None]:
        """Queues ``record``; the future resolves on the broker's ack. Raises BufferError."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            loop.call_soon_threadsafe(_resolve, future, error)

        self._producer.produce(
            record.topic,
            value=record.value,
            key=record.key,
            headers=list(record.headers),
            on_delivery=delivered,
        )
        return future

    def queued(self) -> int:
        return len(self._producer)

    def close(self, timeout_s: float) -> int:
        """Stops serving reports after flushing; returns records still unacknowledged."""
        self._stop.set()
        self._thread.join(timeout=5)
        left: int = self._producer.flush(timeout_s)
        if left:
            log.warning("edge.unflushed_records", count=left)
        return left

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)


def _resolve(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():  # the request gave up waiting
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(DeliveryFailed(error.str()))
