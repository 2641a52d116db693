"""The generator on a background thread of `pipeline dev`, stoppable at any moment."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from pipeline.adapters.kafka.codec import Codec
from pipeline.generator import (
    EventFactory,
    EventSender,
    Mix,
    SendStats,
    generator_producer,
    send_events,
)
from pipeline.generator.http_send import EdgeSender
from pipeline.generator.send import Sender
from pipeline.rate_limit import rate_limiter

log = structlog.get_logger()


def kafka_sender(client_config: dict[str, Any], codec: Codec, topic: str) -> LoadSender:
    """Straight to the topic. The producer is created (and the topic checked) in the caller's
    thread, so a missing topic or broker fails `pipeline dev` at once."""

    def build(stats: SendStats) -> Sender:
        producer = generator_producer(client_config, topic, timeout_s=10.0)
        return EventSender(producer, codec, topic, stats)

    return build


def edge_sender(base_url: str, keys: Mapping[int, str]) -> LoadSender:
    """Through the edge over HTTP, as SDKs send."""
    return lambda stats: EdgeSender(base_url, keys, stats)


LoadSender = Callable[[SendStats], Sender]


class LoadThread:
    def __init__(
        self,
        sender: LoadSender,
        mix: Mix,
        *,
        rate: float,
        count: int | None,
        seed: int | None,
        flush_timeout_s: float = 10.0,
    ) -> None:
        self.stats = SendStats()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._sender = sender(self.stats)
        self._factory = EventFactory(mix, random.Random(seed))
        self._limiter = rate_limiter(rate)
        self._count = count
        self._flush_timeout_s = flush_timeout_s
        self._thread = threading.Thread(target=self._run, name="dev-generator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the delivery reports of what was sent."""
        self._stop.set()
        self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            send_events(
                self._factory,
                self._sender,
                self.stats,
                count=self._count,
                limiter=self._limiter,
                stop=self._stop,
                flush_timeout_s=self._flush_timeout_s,
            )
        except Exception as exc:  # reported in the summary; the stages keep running
            self.error = exc
            log.exception("dev.generator_failed")
