"""Threads for I/O-bound stages: a few runnable workers, plus one per call that is stuck.

Cheap work wants few threads: every extra runnable thread contends for the GIL. Slow calls (an
HTTP fetch, a retry backoff) want the opposite: each must hold a thread without holding up the
messages behind it. A worker counts as stuck once its current call has run for
``stuck_after_s``; the pool keeps enough workers that are not stuck: ``runnable``, plus as
many as calls get stuck during one detection delay (Little's law, doubled), so work keeps
flowing while the next stuck calls are still being noticed. Workers come back when their slow
call ends and are reused; the pool never exceeds ``max_workers``.

Work is handed over in chunks (one queue operation per chunk, not per message). A chunk behind
a stuck call is not held up by it: the loop takes the rest of that chunk back and queues it
again for a runnable worker. Both sides take from a chunk with ``deque.popleft``, which is
atomic, so every message is run exactly once.
"""

from __future__ import annotations

import _thread
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from queue import SimpleQueue
from typing import Any

from pipeline.runtime.messages import InputMessage
from pipeline.runtime.pool import Outcome, recover_one
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.stage import ProcessFn

WORKER_STACK_BYTES = 1 << 20
CHUNK = 64
"""Messages per hand-over: large enough to amortize the queue, small enough to spread work."""

Chunk = deque[InputMessage]


class _Worker:
    __slots__ = ("chunk", "counted", "since")

    def __init__(self) -> None:
        self.chunk: Chunk | None = None
        self.since = 0.0
        """When the current call started; 0.0 while waiting for work."""
        self.counted = 0.0
        """``since`` of the call last counted as stuck, so each stuck call is counted once."""


class ThreadPool:
    def __init__(
        self,
        fn: ProcessFn,
        retry: RetryPolicy,
        completions: SimpleQueue[Any],
        max_workers: int,
        runnable: int = 2,
        stuck_after_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fn = fn
        self._retry = retry
        self._completions = completions
        self._max = max_workers
        self._runnable = min(runnable, max_workers)
        self._stuck_after = stuck_after_s
        self._scan_every = stuck_after_s / 2
        self._clock = clock
        self._chunks: SimpleQueue[Chunk | None] = SimpleQueue()
        self._workers: list[_Worker] = []
        self._live = 0
        self._live_changed = threading.Condition()
        self._last_scan = clock()
        self._rate_since = self._last_scan
        self._newly_stuck = 0
        self._stuck_per_s = 0.0
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
                if worker.counted != since:
                    worker.counted = since
                    self._newly_stuck += 1
                chunk = worker.chunk
                if chunk:
                    self._rescue(chunk)
        self.stuck = stuck
        window = now - self._rate_since
        # The last second's rate, or this second's so far if higher (a burst, or the start).
        rate = max(self._stuck_per_s, self._newly_stuck / max(window, 0.1))
        if window >= 1.0:
            self._stuck_per_s = self._newly_stuck / window
            self._newly_stuck, self._rate_since = 0, now
        delay = self._stuck_after + self._scan_every
        wanted = self._runnable + math.ceil(rate * delay * 2)
        missing = wanted - (len(self._workers) - stuck)
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
        """Start a worker without waiting for it to run.

        ``threading.Thread.start`` waits until the new thread has run, which under GIL
        contention takes about a millisecond: hundreds of calls getting stuck at once would
        stall the loop for that long. The low-level ``_thread`` API returns straight away.
        """
        worker = _Worker()
        self._workers.append(worker)
        with self._live_changed:
            self._live += 1
        # Thousands of threads may wait on slow calls at once: smaller stacks keep the address
        # space modest (the default reserves 8 MiB each). stack_size() is process-wide, so it
        # is restored straight after.
        previous = threading.stack_size(WORKER_STACK_BYTES)
        try:
            _thread.start_new_thread(self._work, (worker,))
        finally:
            threading.stack_size(previous)

    def _work(self, worker: _Worker) -> None:
        get, put, clock = self._chunks.get, self._completions.put, self._clock
        fn, retry = self._fn, self._retry
        while True:
            chunk = get()
            if chunk is None:
                with self._live_changed:
                    self._live -= 1
                    self._live_changed.notify_all()
                return
            worker.chunk = chunk
            take = chunk.popleft
            while True:
                try:
                    task = take()
                except IndexError:
                    break
                worker.since = clock()
                try:
                    outcome: Outcome = fn(task)
                except Exception as exc:  # the first attempt inline: most calls succeed
                    outcome = recover_one(fn, retry, task, exc)
                put((task, outcome))
            worker.since = 0.0
            worker.chunk = None

    def shutdown(self, wait: bool) -> None:
        for _ in self._workers:
            self._chunks.put(None)
        if wait:
            with self._live_changed:
                self._live_changed.wait_for(lambda: self._live == 0)
