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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: list[tuple[asyncio.Future[None], KafkaError | None]] = []
        """Delivery reports of the current poll, handed to the event loop in one wake-up."""

    def start(self) -> None:
        self._thread.start()

    def send(self, record: Produce) -> asyncio.Future[None]:
        """Queues ``record``; the future resolves on the broker's ack. Raises BufferError."""
        self._loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[None] = self._loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            self._reports.append((future, error))

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
            self._producer.poll(0.1)  # runs the delivery callbacks on this thread
            if self._reports and self._loop is not None:
                reports, self._reports = self._reports, []
                # One wake-up of the event loop per poll, not per record: at thousands of
                # acks a second, waking the loop for each was the edge's largest cost.
                self._loop.call_soon_threadsafe(_resolve_all, reports)


def _resolve_all(reports: list[tuple[asyncio.Future[None], KafkaError | None]]) -> None:
    for future, error in reports:
        _resolve(future, error)


def _resolve(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():  # the request gave up waiting
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(DeliveryFailed(error.str()))
