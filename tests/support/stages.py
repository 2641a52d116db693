"""Stages whose behaviour is scripted by the message value, for runtime tests and benchmarks.

Value forms: ``sleep:<seconds>:<id>`` waits (I/O-like), ``cpu:<iterations>:<id>`` burns CPU,
``poison:<id>`` raises, ``flaky:<failures>:<id>`` fails transiently that many times per process,
anything else is copied through. Output goes to ``<prefix>test.out`` with the input's key.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pipeline.config import Settings
from pipeline.runtime.errors import SinkUnavailable, TransientError
from pipeline.runtime.messages import InputMessage, Processed, Produce, Write
from pipeline.runtime.stage import ExecutionMode, ProcessFn, StageSpec

Flavour = ExecutionMode | Literal["coroutine"]
"""How the scripted stage runs: an execution mode, or ``coroutine`` (AsyncScripted, threads)."""
FLAVOURS: dict[str, Flavour] = {
    "threads": "threads",
    "processes": "processes",
    "coroutine": "coroutine",
}

INPUT = "test.in"
OUTPUT = "test.out"

_flaky_attempts: Counter[bytes] = Counter()
_flaky_lock = threading.Lock()


class Scripted:
    """A picklable process function (processes mode sends it to each worker once)."""

    def __init__(self, output_topic: str | None, to_sink: bool = False) -> None:
        self.output_topic = output_topic
        self.to_sink = to_sink

    def __call__(self, msg: InputMessage) -> Processed:
        value = msg.value or b""
        if value.startswith(b"sleep:"):
            time.sleep(float(value.split(b":")[1]))
        elif value.startswith(b"cpu:"):
            burn_cpu(int(value.split(b":")[1]))
        elif value.startswith(b"poison:"):
            raise ValueError(f"poison message at offset {msg.offset}")
        elif value.startswith(b"flaky:"):
            with _flaky_lock:
                _flaky_attempts[value] += 1
                attempt = _flaky_attempts[value]
            if attempt <= int(value.split(b":")[1]):
                raise TransientError(f"flaky attempt {attempt}")
        return self.emit(msg)

    def emit(self, msg: InputMessage) -> Processed:
        value = msg.value or b""
        if self.to_sink:
            return Processed([Write(value)])
        assert self.output_topic is not None
        return Processed([Produce(self.output_topic, value=value, key=msg.key)])


class AsyncScripted:
    """Scripted as a coroutine function: ``sleep:`` awaits (I/O-like, holding no thread)."""

    def __init__(self, output_topic: str | None, to_sink: bool = False) -> None:
        self._sync = Scripted(output_topic, to_sink)

    async def __call__(self, msg: InputMessage) -> Processed:
        value = msg.value or b""
        if value.startswith(b"sleep:"):
            await asyncio.sleep(float(value.split(b":")[1]))
            return self._sync.emit(msg)
        return self._sync(msg)


class BatchScripted:
    """Scripted as a ``process_batch`` function: any poison fails the whole batch. Records the
    ``(partition, offset)`` runs of the batches that succeeded, to check how they were cut."""

    def __init__(self, output_topic: str) -> None:
        self._one = Scripted(output_topic)
        self._lock = threading.Lock()
        self.batches: list[list[tuple[int, int]]] = []

    def __call__(self, msgs: Sequence[InputMessage]) -> list[Processed]:
        results = [self._one(msg) for msg in msgs]
        with self._lock:
            self.batches.append([(msg.partition, msg.offset) for msg in msgs])
        return results


def burn_cpu(iterations: int) -> str:
    digest = b"seed"
    for _ in range(iterations):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


class ListSink:
    """Records what was written; ``failing`` simulates a database outage."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.failing = False
        self.failed_writes = 0
        self._lock = threading.Lock()

    def write(self, items: Sequence[Any]) -> Sequence[Sequence[Produce]]:
        if self.failing:
            self.failed_writes += 1
            raise SinkUnavailable("simulated outage")
        with self._lock:
            self.items.extend(items)
        return ()

    def written(self) -> list[Any]:
        """A copy of the items written so far (the writer thread appends concurrently)."""
        with self._lock:
            return list(self.items)

    def close(self) -> None:
        pass


def scripted_spec(
    settings: Settings,
    group_id: str,
    mode: Flavour = "threads",
    sink: ListSink | None = None,
) -> StageSpec:
    """The scripted stage on ``<prefix>test.in``; with a sink it writes there, not to a topic.

    ``coroutine`` runs AsyncScripted (threads mode, on the event loop)."""
    output = None if sink else settings.kafka.topic(OUTPUT)
    process: ProcessFn = (
        AsyncScripted(output, to_sink=sink is not None)
        if mode == "coroutine"
        else Scripted(output, to_sink=sink is not None)
    )
    return StageSpec(
        name="scripted",
        input_topic=settings.kafka.topic(INPUT),
        group_id=group_id,
        process=process,
        mode="processes" if mode == "processes" else "threads",
        sink=sink,
        sink_batch_max_wait_s=0.05,
    )


def scripted_stage(settings: Settings) -> StageSpec:
    """Factory for `pipeline run tests.support.stages:scripted_stage` (a real subprocess)."""
    mode = os.environ.get("TEST_STAGE_MODE", "threads")
    return scripted_spec(
        settings,
        os.environ.get("TEST_STAGE_GROUP", settings.kafka.topic("scripted")),
        FLAVOURS.get(mode, "threads"),
    )
