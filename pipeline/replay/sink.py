"""Writing replayed records: an idempotent producer whose delivery reports decide success."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from pipeline.replay.routing import RecordHeaders
from pipeline.runtime.clients import producer_config


class ReplaySink:
    def __init__(self, client_config: Mapping[str, Any]) -> None:
        self._producer = Producer(
            # Targets are checked before writing; a typo must never create a topic.
            {**producer_config(dict(client_config), "replay"), "allow.auto.create.topics": False}
        )

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: RecordHeaders,
        on_delivery: Callable[[KafkaError | None, Message], None],
        stop: threading.Event,
    ) -> bool:
        """False when ``stop`` was set while the local queue was full: the record was not sent."""
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=list(headers), on_delivery=on_delivery
                )
                return True
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                if stop.is_set():
                    return False
                self._producer.poll(0.1)

    def serve_reports(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> int:
        """Records still without a delivery report when ``timeout_s`` ran out."""
        return self._producer.flush(timeout_s)
