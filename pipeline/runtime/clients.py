"""librdkafka settings the runtime needs for its guarantees (manual commits, idempotent output)."""

from __future__ import annotations

import os
import socket
from typing import Any

from pipeline.config import KafkaSettings


def client_id(stage: str) -> str:
    return f"pipeline-{stage}-{socket.gethostname()}-{os.getpid()}"


def consumer_config(
    base: dict[str, Any], kafka: KafkaSettings, group_id: str, stage: str
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "group.id": group_id,
        "client.id": client_id(stage),
        # Offsets are committed by the runtime only after outputs are acknowledged.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Bound the prefetch queue so memory stays flat however large the backlog.
        "queued.max.messages.kbytes": 16384,
        # Past that bound librdkafka backs off fetching for this long (default 1 s: a stall).
        "fetch.queue.backoff.ms": 10,
        "group.protocol": kafka.group_protocol,
    }
    if kafka.group_protocol == "classic":
        config["partition.assignment.strategy"] = "cooperative-sticky"
    return {**base, **config}


def producer_config(base: dict[str, Any], stage: str) -> dict[str, Any]:
    return {
        **base,
        "client.id": client_id(stage),
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 100_000,
    }
