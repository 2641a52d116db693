"""The edge's producer never leaves a request waiting: a record whose delivery report does not
come (here: no broker, and librdkafka told to wait a minute) fails at the producer's deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from pipeline.edge.producer import AsyncProducer, DeliveryFailed
from pipeline.runtime.messages import Produce

_NO_BROKER = {"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 60_000, "log_level": 0}


def test_a_report_that_never_comes_fails_at_the_deadline() -> None:
    producer = AsyncProducer(_NO_BROKER, report_deadline_s=0.5)
    producer.start()

    async def send_and_wait() -> float:
        started = time.monotonic()
        with pytest.raises(DeliveryFailed, match=r"no delivery report within 0\.5 s"):
            await asyncio.wait_for(producer.send(Produce("t", b"v", key=b"k")), timeout=10)
        return time.monotonic() - started

    try:
        waited = asyncio.run(send_and_wait())
    finally:
        producer.close(0)
    assert 0.4 <= waited < 5


def test_futures_resolved_before_their_deadline_are_left_alone() -> None:
    """Only open futures are failed: one the loop already settled keeps its result."""
    producer = AsyncProducer(_NO_BROKER, report_deadline_s=0.2)
    producer.start()

    async def cancel_then_wait() -> asyncio.Future[None]:
        future = producer.send(Produce("t", b"v", key=b"k"))
        future.cancel()
        later = producer.send(Produce("t", b"v", key=b"k"))
        with pytest.raises(DeliveryFailed):
            await asyncio.wait_for(later, timeout=10)
        return future

    try:
        cancelled = asyncio.run(cancel_then_wait())
    finally:
        producer.close(0)
    assert cancelled.cancelled()
