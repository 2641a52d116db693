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
    """Tunables first, so ``kafka.client_config`` (in ``base``) can override them; then what the
    delivery guarantees rest on, which nothing overrides."""
    tunables: dict[str, Any] = {
        "client.id": client_id(stage),
        "auto.offset.reset": "earliest",
        # Bound librdkafka's prefetch so memory stays flat however large the backlog: by
        # default it keeps up to 100k messages per partition queued.
        "queued.min.messages": 2000,
        "queued.max.messages.kbytes": 16384,
        "fetch.max.bytes": 1 << 20,
        # A fetched batch stays in memory until its last message is consumed: at 256 KiB a
        # stage at full speed held 18 MiB more than one that never got going; 128 KiB, 10 MiB.
        "max.partition.fetch.bytes": 128 << 10,
        # Past those bounds librdkafka stops fetching for this long (default 1 s: a stall).
        "fetch.queue.backoff.ms": 20,
        # A resumed partition waits for the fetch request already at the broker, which the
        # broker holds this long when the other partitions have nothing new (default 500 ms).
        "fetch.wait.max.ms": 100,
    }
    guarantees: dict[str, Any] = {
        "group.id": group_id,
        # Offsets are committed by the runtime only after outputs are acknowledged.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "group.protocol": kafka.group_protocol,
    }
    if kafka.group_protocol == "classic":
        guarantees["partition.assignment.strategy"] = "cooperative-sticky"
    return {**tunables, **base, **guarantees}


def producer_config(base: dict[str, Any], stage: str) -> dict[str, Any]:
    tunables = {
        "client.id": client_id(stage),
        "linger.ms": 5,
        "compression.type": "lz4",
        # Bound what waits for the broker, in records and in bytes (librdkafka's defaults are
        # 100k records and 1 GiB): a fast stage fills the queue whatever its size.
        "queue.buffering.max.messages": 20_000,
        "queue.buffering.max.kbytes": 16 << 10,
    }
    # Idempotence keeps retried sends from duplicating or reordering records.
    return {**tunables, **base, "enable.idempotence": True}
