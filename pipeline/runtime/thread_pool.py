"""Threads for I/O-bound stages: a few runnable workers, plus one per call that is stuck.

Cheap work wants few threads: every extra runnable thread contends for the GIL. Slow calls (an
HTTP fetch, a retry backoff) want the opposite: each must hold a thread without holding up the
messages behind it. So the pool keeps ``runnable`` workers that are not stuck, counting a
worker stuck once its current call has run for ``stuck_after_s``, and starts a new worker for
each one that is. Workers come back when their slow call ends and are reused; the pool never
exceeds ``max_workers``.

Work is handed over in chunks (one queue operation per chunk, not per message). A chunk behind
a stuck call is not held up by it: the loop takes the rest of that chunk back and queues it
again for a runnable worker. Both sides take from a chunk with ``deque.popleft``, which is
atomic, so every message is run exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from queue import SimpleQueue
from typing import Any

from pipeline.runtime.messages import InputMessage
from pipeline.runtime.pool import run_one
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.stage import ProcessFn

WORKER_STACK_BYTES = 1 << 20
CHUNK = 64
"""Messages per hand-over: large enough to amortize the queue, small enough to spread work."""

Chunk = deque[InputMessage]


class _Worker:
    __slots__ = ("chunk", "since")

    def __init__(self) -> None:
        self.chunk: Chunk | None = None
        self.since = 0.0
        """When the current call started; 0.0 while waiting for work."""


class ThreadPool:
    def __init__(
        self,
        fn: ProcessFn,
        retry: RetryPolicy,
        completions: SimpleQueue[Any],
        max_workers: int,
        name: str = "stage",
        runnable: int = 2,
        stuck_after_s: float = 0.025,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fn = fn
        self._retry = retry
        self._completions = completions
        self._max = max_workers
        self._name = name
        self._runnable = min(runnable, max_workers)
        self._stuck_after = stuck_after_s
        self._scan_every = stuck_after_s / 2
        self._clock = clock
        self._chunks: SimpleQueue[Chunk | None] = SimpleQueue()
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._last_scan = clock()
        self.stuck = 0
        """Workers whose call had run for ``stuck_after_s`` at the last scan."""
        for _ in range(self._runnable):
            self._start_worker()

    @property
    def size(self) -> int:
        return len(self._workers)

    def submit(self, tasks: Sequence[InputMessage]) -> None:
        put = self._chunks.put
        for start in range(0, len(tasks), CHUNK):
            put(deque(tasks[start : start + CHUNK]))

    def adjust(self) -> None:
        """Called every loop tick: rescue work queued behind stuck calls, replace stuck workers."""
        now = self._clock()
        if now - self._last_scan < self._scan_every:
            return
        self._last_scan = now
        stuck_before = now - self._stuck_after
        stuck = 0
        for worker in self._workers:
            since = worker.since
            if since and since < stuck_before:
                stuck += 1
                chunk = worker.chunk
                if chunk:
                    self._rescue(chunk)
        self.stuck = stuck
        missing = self._runnable - (len(self._workers) - stuck)
        for _ in range(min(missing, self._max - len(self._workers))):
            self._start_worker()

    def _rescue(self, chunk: Chunk) -> None:
        rest: Chunk = deque()
        try:
            while True:
                rest.append(chunk.popleft())
        except IndexError:
            pass
        if rest:
            self._chunks.put(rest)

    def _start_worker(self) -> None:
        worker = _Worker()
        thread = threading.Thread(
            target=self._work,
            args=(worker,),
            name=f"{self._name}-worker-{len(self._workers)}",
            daemon=True,
        )
        self._workers.append(worker)
        self._threads.append(thread)
        # Thousands of threads may wait on slow calls at once: smaller stacks keep the address
        # space modest (the default reserves 8 MiB each). stack_size() is process-wide, so it
        # is restored straight after.
        previous = threading.stack_size(WORKER_STACK_BYTES)
        try:
            thread.start()
        finally:
            threading.stack_size(previous)

    def _work(self, worker: _Worker) -> None:
        get, put, clock = self._chunks.get, self._completions.put, self._clock
        fn, retry = self._fn, self._retry
        while True:
            chunk = get()
            if chunk is None:
                return
            worker.chunk = chunk
            take = chunk.popleft
            while True:
                try:
                    task = take()
                except IndexError:
                    break
                worker.since = clock()
                put((task, run_one(fn, retry, task)))
            worker.since = 0.0
            worker.chunk = None

    def shutdown(self, wait: bool) -> None:
        for _ in self._threads:
            self._chunks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
