"""Where process functions run: worker threads (thread_pool.py), an event loop for coroutine
functions (async_pool.py), or worker processes for CPU work (here).

Tasks are the messages themselves (the loop's subclass carrying its bookkeeping); a completion
is ``(task, outcome)``.

All report to one completion queue that only the consumer loop reads, so all offset and pause
bookkeeping stays on the loop's thread without locks.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any, Protocol

import structlog

from pipeline.runtime.messages import InputMessage, Processed
from pipeline.runtime.retry import FailedAfterRetries, RetryPolicy
from pipeline.runtime.stage import BatchProcessFn, SyncProcessFn

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Failure:
    """A message the process function could not handle (after retries), as plain data."""

    error: str
    attempts: int


Outcome = Processed | Failure


def run_one(fn: SyncProcessFn, retry: RetryPolicy, msg: InputMessage) -> Outcome:
    try:
        return retry.call(fn, msg)
    except FailedAfterRetries as failed:
        return failure_of(failed)


def recover_one(
    fn: SyncProcessFn, retry: RetryPolicy, msg: InputMessage, error: Exception
) -> Outcome:
    """After a first attempt failed: retry transient errors, else a Failure for the DLQ."""
    try:
        return retry.recover(fn, msg, error)
    except FailedAfterRetries as failed:
        return failure_of(failed)


def failure_of(failed: FailedAfterRetries) -> Failure:
    cause = failed.cause
    return Failure(f"{type(cause).__name__}: {cause}"[:2000], failed.attempts)


class BatchMiscount(Exception):
    """A batch function returned a result count other than one per message: a stage bug."""


@dataclass(frozen=True, slots=True)
class OneByOne:
    """A batch function as a per-message one: how a failed batch's messages run alone."""

    batch: BatchProcessFn

    def __call__(self, msg: InputMessage) -> Processed:
        results = self.batch((msg,))
        if len(results) != 1:
            raise BatchMiscount(f"process_batch returned {len(results)} results for 1 message")
        return results[0]


def run_batch(fn: BatchProcessFn, msgs: Sequence[InputMessage]) -> Sequence[Processed] | None:
    """One result per message, or None (logged) when the messages must run one by one."""
    try:
        results = fn(msgs)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
    else:
        if len(results) == len(msgs):
            return results
        error = f"{BatchMiscount.__name__}: {len(results)} results for {len(msgs)} messages"
    first = msgs[0]
    log.warning(
        "runtime.batch_failed",
        topic=first.topic,
        partition=first.partition,
        offset=first.offset,
        messages=len(msgs),
        error=error,
    )
    return None


def partition_chunks(tasks: Sequence[InputMessage], size: int) -> Iterator[list[InputMessage]]:
    """Chunks of at most ``size`` that never mix partitions, so each can be one batch."""
    chunk: list[InputMessage] = []
    for task in tasks:
        if chunk and (
            len(chunk) == size
            or task.partition != chunk[0].partition
            or task.topic != chunk[0].topic
        ):
            yield chunk
            chunk = []
        chunk.append(task)
    if chunk:
        yield chunk


Completion = tuple[Any, Outcome]


class WorkPool(Protocol):
    @property
    def threads(self) -> int:
        """Worker threads started (0 where work does not run on threads of this process)."""

    @property
    def waiting(self) -> int:
        """Calls that are slow right now: stuck on a thread, or suspended on I/O."""

    def submit(self, tasks: Sequence[InputMessage]) -> None: ...

    def adjust(self) -> None: ...

    def shutdown(self, wait: bool) -> None: ...


_worker_fn: SyncProcessFn | None = None
_worker_retry: RetryPolicy | None = None
_worker_batch: BatchProcessFn | None = None


def _init_process_worker(
    fn: SyncProcessFn, retry: RetryPolicy, batch: BatchProcessFn | None
) -> None:
    """Runs once per worker process: the parent coordinates shutdown, so ignore its signals."""
    global _worker_fn, _worker_retry, _worker_batch
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker_fn, _worker_retry, _worker_batch = fn, retry, batch


def _run_chunk(messages: Sequence[InputMessage]) -> Sequence[Outcome]:
    assert _worker_fn is not None and _worker_retry is not None
    if _worker_batch is not None and len(messages) > 1:
        results = run_batch(_worker_batch, messages)
        if results is not None:
            return results
    return [run_one(_worker_fn, _worker_retry, msg) for msg in messages]


class ProcessPool:
    """Worker processes for CPU-bound stages, so work uses more than one core despite the GIL.

    Messages go over in chunks of one partition to amortize pickling; the function is sent once
    per worker. With ``batch``, a chunk is one call of it (``fn`` runs the messages of a chunk
    whose batch failed).
    """

    def __init__(
        self,
        fn: SyncProcessFn,
        retry: RetryPolicy,
        completions: SimpleQueue[Any],
        workers: int,
        chunk_size: int = 16,
        batch: BatchProcessFn | None = None,
    ) -> None:
        self._completions = completions
        self._chunk = chunk_size
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_process_worker,
            initargs=(fn, retry, batch),
        )

    def submit(self, tasks: Sequence[InputMessage]) -> None:
        for chunk in partition_chunks(tasks, self._chunk):
            future = self._executor.submit(_run_chunk, chunk)
            future.add_done_callback(self._reporter(chunk))

    def _reporter(self, chunk: list[InputMessage]) -> Callable[[Future[Sequence[Outcome]]], None]:
        def report(future: Future[Sequence[Outcome]]) -> None:
            try:
                outcomes = future.result()
            except Exception as exc:  # a worker died: fail the chunk, the loop dead-letters it
                outcomes = [Failure(f"worker process failed: {exc!r}", 1)] * len(chunk)
            for task, outcome in zip(chunk, outcomes, strict=True):
                self._completions.put((task, outcome))

        return report

    threads = 0
    waiting = 0
    """Calls in worker processes are not watched one by one."""

    def adjust(self) -> None:
        """A process pool has a fixed size: one process per core is what CPU work wants."""

    def shutdown(self, wait: bool) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
