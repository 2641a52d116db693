"""The declaration of a stage: what it reads, what it does, where its output goes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from typing_extensions import TypeIs

from pipeline.runtime.messages import InputMessage, Processed, Produce

SyncProcessFn = Callable[[InputMessage], Processed]
"""In processes mode: a picklable module-level callable (or module-level class instance)."""

AsyncProcessFn = Callable[[InputMessage], Coroutine[Any, Any, Processed]]
"""Threads mode only: runs on the stage's event loop, so a call awaiting I/O holds no thread."""

ProcessFn = SyncProcessFn | AsyncProcessFn

BatchProcessFn = Callable[[Sequence[InputMessage]], Sequence[Processed]]
"""Messages of one partition in offset order -> one Processed per message, same order."""


def is_async(fn: Callable[..., Any]) -> TypeIs[AsyncProcessFn]:
    """An ``async def`` function, or an object whose ``__call__`` is one."""
    call = type(fn).__call__ if not inspect.isfunction(fn) else fn
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


InvalidFn = Callable[[InputMessage, str], Sequence[Produce]]
"""Records (an `invalid` outcome) to emit when a message is sent to the DLQ."""

ExecutionMode = Literal["threads", "processes"]


class Sink(Protocol):
    """A durable destination written in batches, such as the event database."""

    def write(self, items: Sequence[Any]) -> Sequence[Sequence[Produce]]:
        """Write every item durably or raise; SinkUnavailable means retry the same batch later.

        Returns, per item, records to produce once written (e.g. `accepted` outcomes for the
        events that were new), or an empty sequence for none at all. The input offset is
        committed only after those are acknowledged too.
        """

    def close(self) -> None: ...


@dataclass(frozen=True)
class StageSpec:
    name: str
    input_topic: str
    group_id: str
    process: ProcessFn | None = None
    """Per message; set this or ``process_batch``."""
    mode: ExecutionMode = "threads"
    runnable_threads: int = 2
    """Threads mode: threads that take new work while no call is stuck, unless
    ``runtime.runnable_threads`` is set. Two suit a plain function with occasional slow calls
    (benchmarks.runtime d, 1% slow: 0.79 of the none-slow rate against one thread's 0.51 in one
    session, 0.48-0.55 against 0.44-0.55 in a noisier one); a stage that only computes declares
    one, which does not fight the consumer loop and a second worker for the GIL (normalize and
    symbolicate ran 20-40% faster on one, benchmarks.stages)."""
    dlq_topic: str | None = None
    on_invalid: InvalidFn | None = None
    sink: Sink | None = None
    sink_batch_size: int = 500
    sink_batch_max_wait_s: float = 0.2
    on_close: Callable[[], None] | None = None
    """Releases what the process function holds (HTTP clients, caches) at shutdown."""
    exactly_once: bool = False
    """Outputs and input offsets commit in one Kafka transaction (pipeline.runtime.transactions):
    a redelivered message never adds a second copy of what it produced. The backlog drain,
    which records its progress in the ledger instead of group offsets, stays at-least-once."""
    process_batch: BatchProcessFn | None = None
    """Per chunk of one partition's messages, for stages with per-call costs worth sharing. If
    it raises or returns a wrong count, each message of the chunk runs alone (with retries), so
    only a poison message is dead-lettered."""

    def __post_init__(self) -> None:
        if (self.process is None) == (self.process_batch is None):
            raise ValueError(f"stage {self.name}: set exactly one of process and process_batch")
        if self.runnable_threads < 1:
            raise ValueError(f"stage {self.name}: runnable_threads must be at least 1")
        if self.process_batch is not None and is_async(self.process_batch):
            raise ValueError(
                f"stage {self.name}: process_batch must be a plain function; a coroutine "
                "function is set as process (it runs per message on the event loop)"
            )
        if self.mode == "processes" and self.process is not None and is_async(self.process):
            raise ValueError(
                f"stage {self.name}: processes mode runs plain functions; a coroutine function "
                "(I/O-bound work) runs in threads mode"
            )

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.input_topic}.dlq"
