"""Threads for I/O-bound stages: a few active workers, and one more per call that gets stuck.

Cheap work wants few threads: every thread that takes work contends for the GIL and has to be
woken for it. Slow calls (an HTTP fetch, a retry backoff) want the opposite: each must hold a
thread without holding up the messages behind it. So the pool has two kinds of worker:

- active workers take chunks of work from the queue. The loop keeps ``runnable`` of them free,
  plus as many as the calls expected to get stuck before they are noticed (from the recent
  rate of stuck calls and the work queued);
- a worker whose call has run for ``stuck_after_s`` while its thread used almost no CPU is
  waiting (on I/O, a lock, a backoff), so it is demoted: the loop takes back the rest of its
  chunk and promotes a parked worker (or starts one) in its place. A long call that computes
  keeps its place: another thread would only contend with it for the GIL. When the slow call ends,
  the demoted worker reports it and parks until it is promoted again.

So however many calls are waiting, only the active few are woken for new work, and the loop
only ever checks those few. After a burst of stuck calls, active workers beyond what the pool
wants park themselves once idle. The pool never exceeds ``max_workers`` threads.

Work is handed over in chunks of one partition (one queue operation per chunk, not per message).
Both the worker and the loop take from a chunk with ``deque.popleft``, which is atomic, so every
message is run exactly once. With a batch function a worker takes a whole chunk for one call; if
that call fails, the chunk's messages run one by one like any other chunk.
"""

from __future__ import annotations

import _thread
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from queue import Empty, SimpleQueue
from typing import Any

from pipeline.runtime.messages import InputMessage
from pipeline.runtime.pool import Outcome, partition_chunks, recover_one, run_batch
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.stage import BatchProcessFn, SyncProcessFn

WORKER_STACK_BYTES = 1 << 20
CHUNK = 64
"""Messages per hand-over: enough to amortize the queue and the wake-up."""
IDLE_LEAVE_S = 0.05
"""An active worker idle this long parks itself if the pool has more active than it wants."""
WAITING_CPU_SHARE = 0.05
"""A long call whose thread used less CPU than this share of the time is waiting, not working."""
JUDGED_OVER_S = 4 * sys.getswitchinterval()
"""A call that computes can wait for the GIL a switch interval per other thread that wants it,
using no CPU meanwhile just like a call waiting on I/O: judged over several intervals, it still
shows its share (a third with two other threads), one waiting on I/O shows none."""
RATE_WINDOW_S = 0.25
"""Stuck calls are counted over about this long to size the active set."""
COMPUTING_CORES = 0.7
"""Process CPU (cores, since the last scan) at which no call is taken for stuck: while the
process computes flat out, another thread could not run either, it would only contend."""

Chunk = deque[InputMessage]


class _Worker:
    __slots__ = ("chunk", "cpu_clock", "demoted", "probe", "since", "wake")

    def __init__(self) -> None:
        self.chunk: Chunk | None = None
        self.since = 0.0
        """When the current call started; 0.0 while waiting for work."""
        self.demoted = False
        """Set by the loop when the current call got stuck; the worker parks after it."""
        self.wake = threading.Event()
        self.cpu_clock: int | None = None
        """This thread's CPU-time clock, set by the thread itself once running."""
        self.probe: tuple[float, float, float] | None = None
        """(since, wall, cpu) when the loop last looked at a long call."""

    def waiting(self, now: float) -> bool:
        """Whether the current, long call is waiting rather than computing.

        A call that computes (CPU-bound work on a thread) is not helped by another thread, only
        slowed by one more contending for the GIL; a call that waits holds its thread idle. The
        thread's CPU clock tells them apart: a waiting call used almost none since last looked at.
        The first look at a call only takes a reading; it is judged once JUDGED_OVER_S later.
        """
        if self.cpu_clock is None:  # the platform has no per-thread CPU clocks: trust the time
            return True
        since, cpu = self.since, time.clock_gettime(self.cpu_clock)
        probe = self.probe
        if probe is None or probe[0] != since:
            self.probe = (since, now, cpu)
            return False
        if now - probe[1] < JUDGED_OVER_S:
            return False
        self.probe = (since, now, cpu)
        return cpu - probe[2] < WAITING_CPU_SHARE * (now - probe[1])


class ThreadPool:
    def __init__(
        self,
        fn: SyncProcessFn,
        retry: RetryPolicy,
        completions: SimpleQueue[Any],
        max_workers: int,
        runnable: int = 1,
        stuck_after_s: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        process_cpu: Callable[[], float] = time.process_time,
        batch: BatchProcessFn | None = None,
    ) -> None:
        """With ``batch``, each chunk is one call of it; ``fn`` runs a failed batch's messages."""
        self._fn = fn
        self._batch = batch
        self._retry = retry
        self._completions = completions
        self._max = max_workers
        self._runnable = min(runnable, max_workers)
        self._stuck_after = stuck_after_s
        self._scan_every = stuck_after_s / 2
        self._clock = clock
        self._chunks: SimpleQueue[Chunk | None] = SimpleQueue()
        self._parked: SimpleQueue[_Worker] = SimpleQueue()
        self._active: set[_Worker] = set()
        """Workers taking chunks. The loop removes stuck ones, idle surplus ones remove
        themselves; both under ``_lock``, which is taken per scan, not per message."""
        self._lock = threading.Lock()
        self._wanted = self._runnable
        self._chunk_size = float(CHUNK)
        """Average messages per queued chunk (one per message at low traffic, CHUNK at high)."""
        self._size = 0
        self._closing = False
        self._live = 0
        self._live_changed = threading.Condition()
        self._last_scan = clock()
        self._submitted = 0
        self._calls_per_s = 0.0
        self._stuck_per_s = 0.0
        self._process_cpu = process_cpu
        self._cpu_at_scan = process_cpu()
        for _ in range(self._runnable):
            self._active.add(self._start_worker())

    @property
    def threads(self) -> int:
        """Threads started, whatever they are doing."""
        return self._size

    @property
    def waiting(self) -> int:
        """Workers demoted for a stuck call and not parked again yet."""
        return self._size - len(self._active) - self._parked.qsize()

    def submit(self, tasks: Sequence[InputMessage]) -> None:
        put = self._chunks.put
        for part in partition_chunks(tasks, CHUNK):
            chunk = deque(part)
            put(chunk)
            self._chunk_size = 0.9 * self._chunk_size + 0.1 * len(chunk)
        self._submitted += len(tasks)

    def adjust(self) -> None:
        """Called every loop tick: demote workers stuck in a call, keep enough active ones."""
        now = self._clock()
        if now - self._last_scan < self._scan_every:
            return
        elapsed, self._last_scan = now - self._last_scan, now
        cpu = self._process_cpu()
        used, self._cpu_at_scan = cpu - self._cpu_at_scan, cpu
        computing = used >= COMPUTING_CORES * elapsed
        stuck_before = now - self._stuck_after
        newly_stuck = 0
        with self._lock:
            for worker in () if computing else list(self._active):
                since = worker.since
                if since and since < stuck_before and worker.waiting(now):
                    worker.demoted = True
                    self._active.discard(worker)
                    newly_stuck += 1
                    if worker.chunk:
                        self._requeue(worker.chunk)
            decay = math.exp(-elapsed / RATE_WINDOW_S)
            self._calls_per_s = self._calls_per_s * decay + self._submitted / RATE_WINDOW_S
            self._stuck_per_s = self._stuck_per_s * decay + newly_stuck / RATE_WINDOW_S
            self._submitted = 0
            self._wanted = self._wanted_active()
            self._fill()

    def _wanted_active(self) -> int:
        """``runnable``, plus the calls expected to get stuck before the next scan notices them:
        those starting within one detection delay, and those among the work already queued."""
        if self._stuck_per_s < 1.0:
            return self._runnable
        stuck_share = min(1.0, self._stuck_per_s / self._calls_per_s) if self._calls_per_s else 1
        queued = self._chunks.qsize() * self._chunk_size
        delay = self._stuck_after + 2 * self._scan_every
        return self._runnable + round(self._stuck_per_s * delay + stuck_share * queued)

    def _fill(self) -> None:
        while len(self._active) < self._wanted:
            try:
                worker = self._parked.get_nowait()
            except Empty:
                if self._size >= self._max:
                    return
                worker = self._start_worker()
            else:
                worker.wake.set()
            self._active.add(worker)

    def _leave_if_surplus(self, worker: _Worker) -> bool:
        """An idle worker parks itself while the pool has more active ones than it wants (after
        a burst of stuck calls), so cheap work is again spread over few threads."""
        with self._lock:
            if worker in self._active and len(self._active) > self._wanted:
                self._active.discard(worker)
                return True
            return False

    def _requeue(self, chunk: Chunk) -> None:
        rest: Chunk = deque()
        try:
            while True:
                rest.append(chunk.popleft())
        except IndexError:
            pass
        if rest:
            self._chunks.put(rest)

    def _start_worker(self) -> _Worker:
        """Start a worker without waiting for it to run.

        ``threading.Thread.start`` waits until the new thread has run, which under GIL
        contention takes about a millisecond: hundreds of calls getting stuck at once would
        stall the loop for that long. The low-level ``_thread`` API returns straight away.
        """
        worker = _Worker()
        self._size += 1
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
        return worker

    def _work(self, worker: _Worker) -> None:
        if hasattr(time, "pthread_getcpuclockid"):
            worker.cpu_clock = time.pthread_getcpuclockid(threading.get_ident())
        try:
            while self._work_until_demoted(worker) and self._park(worker):
                pass
        finally:
            with self._live_changed:
                self._live -= 1
                self._live_changed.notify_all()

    def _park(self, worker: _Worker) -> bool:
        """Wait to be promoted again; False if the pool shuts down first."""
        worker.demoted = False
        self._parked.put(worker)
        if self._closing:  # checked after parking: shutdown wakes whoever it finds parked
            return False
        worker.wake.wait()
        worker.wake.clear()
        return not self._closing

    def _work_until_demoted(self, worker: _Worker) -> bool:
        """Run chunks; False when the pool shuts down, True once demoted or surplus (park)."""
        get, put, clock = self._chunks.get, self._completions.put, self._clock
        fn, retry = self._fn, self._retry
        while True:
            try:
                chunk = get(timeout=IDLE_LEAVE_S)
            except Empty:
                if self._leave_if_surplus(worker):
                    return True
                continue
            if chunk is None:
                return False
            if self._batch is not None:
                chunk = self._run_batch(worker, chunk, self._batch)
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
                if worker.demoted:
                    break
            worker.since = 0.0
            worker.chunk = None
            if worker.demoted:
                self._requeue(chunk)  # whatever the loop has not taken back yet
                return True

    def _run_batch(self, worker: _Worker, chunk: Chunk, batch: BatchProcessFn) -> Chunk:
        """Run the chunk as one call; what is left to run one by one (all of it if it failed)."""
        tasks = []
        try:
            while True:
                tasks.append(chunk.popleft())
        except IndexError:
            pass
        if len(tasks) < 2:
            return deque(tasks)
        worker.since = self._clock()
        results = run_batch(batch, tasks)
        if results is None:
            return deque(tasks)
        put = self._completions.put
        for item in zip(tasks, results, strict=True):
            put(item)
        return deque()

    def shutdown(self, wait: bool) -> None:
        self._closing = True
        for _ in range(self._size):
            self._chunks.put(None)
        while True:
            try:
                self._parked.get_nowait().wake.set()
            except Empty:
                break
        if wait:
            with self._live_changed:
                self._live_changed.wait_for(lambda: self._live == 0)
