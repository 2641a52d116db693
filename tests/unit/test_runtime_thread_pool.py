"""ThreadPool: every message runs once, cheap work stays on few threads, stuck calls get their own.

The tests play the consumer loop: they submit messages, call ``adjust()`` every tick and drain
the completion queue, always with a deadline so a pool that loses work fails instead of hanging.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from queue import Empty, SimpleQueue
from typing import Protocol

import pytest

from pipeline.runtime.errors import TransientError
from pipeline.runtime.messages import InputMessage, Processed, Write
from pipeline.runtime.pool import Completion, Failure, Outcome
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.stage import SyncProcessFn
from pipeline.runtime.thread_pool import ThreadPool
from tests.support.pools import leftovers, shut_down

FAST_RETRY = RetryPolicy(attempts=3, max_seconds=5.0, initial_backoff_s=0.001, max_backoff_s=0.002)
DEADLINE_S = 2.0
"""Generous for a loaded CI machine; a passing run takes a small fraction of it."""


def message(offset: int) -> InputMessage:
    return InputMessage("in", 0, offset, None, b"%d" % offset, 0)


def messages(start: int, count: int) -> list[InputMessage]:
    return [message(offset) for offset in range(start, start + count)]


def echo(msg: InputMessage) -> Processed:
    """Cheap work whose outcome names its message, so a mixed-up completion shows."""
    return Processed((Write(msg.offset),))


class Gate:
    """Holds chosen calls until released, counting how many are inside at once."""

    def __init__(self, blocks: Callable[[InputMessage], bool] = lambda msg: True) -> None:
        self._blocks = blocks
        self._open = threading.Event()
        self._lock = threading.Lock()
        self.entered = 0
        self.inside = 0
        self.peak = 0

    def __call__(self, msg: InputMessage) -> Processed:
        if not self._blocks(msg):
            return echo(msg)
        with self._lock:
            self.entered += 1
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        try:
            self._open.wait()
        finally:
            with self._lock:
                self.inside -= 1
        return echo(msg)

    def release(self) -> None:
        self._open.set()

    def rearm(self) -> None:
        """Hold calls again, for a second wave; only once every held call has returned."""
        with self._lock:
            assert self.inside == 0
            self._open = threading.Event()
            self.entered = self.peak = 0


class Loop:
    """The consumer loop's side of the pool: submit, tick ``adjust()``, collect completions."""

    def __init__(self, pool: ThreadPool, completions: SimpleQueue[Completion]) -> None:
        self.pool = pool
        self._completions = completions
        self.outcomes: dict[int, Outcome] = {}
        self.times_completed: Counter[int] = Counter()

    def submit(self, tasks: Sequence[InputMessage]) -> None:
        self.pool.submit(tasks)

    def tick(self) -> None:
        self.pool.adjust()
        try:
            item = self._completions.get(timeout=0.0005)
            while True:
                task, outcome = item
                assert isinstance(task, InputMessage)
                self.outcomes[task.offset] = outcome
                self.times_completed[task.offset] += 1
                item = self._completions.get_nowait()
        except Empty:
            pass

    def run_until(
        self, condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S
    ) -> None:
        deadline = time.monotonic() + deadline_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: {len(self.outcomes)} completed, "
                    f"{self.pool.threads} threads, {self.pool.waiting} waiting"
                )
            self.tick()

    def completed(self, offsets: Sequence[int] | range) -> bool:
        return all(offset in self.outcomes for offset in offsets)

    def leftovers(self) -> list[Completion]:
        return leftovers(self._completions)


class LoopFactory(Protocol):
    def __call__(self, fn: SyncProcessFn, max_workers: int = 100) -> Loop: ...


@pytest.fixture
def make_loop() -> Iterator[LoopFactory]:
    """Pools for one test; at teardown every gate opens and every pool is shut down."""
    loops: list[Loop] = []
    gates: list[Gate] = []

    def make(fn: SyncProcessFn, max_workers: int = 100) -> Loop:
        """A pool with the defaults the runtime uses (1 runnable, stuck after 5 ms)."""
        completions: SimpleQueue[Completion] = SimpleQueue()
        pool = ThreadPool(fn, FAST_RETRY, completions, max_workers)
        loop = Loop(pool, completions)
        loops.append(loop)
        if isinstance(fn, Gate):
            gates.append(fn)
        return loop

    yield make
    for gate in gates:
        gate.release()
    for loop in loops:
        shut_down(loop.pool)


def test_every_message_completes_once_with_its_outcome(make_loop: LoopFactory) -> None:
    loop = make_loop(echo)
    for start in range(0, 5000, 500):  # several submits, as the loop does while it polls
        loop.submit(messages(start, 500))
    loop.run_until(lambda: len(loop.outcomes) == 5000, "5000 completions")
    shut_down(loop.pool)
    assert loop.leftovers() == []
    assert set(loop.times_completed.values()) == {1}
    assert all(loop.outcomes[offset] == echo(message(offset)) for offset in range(5000))


def test_a_failing_message_becomes_a_failure_and_the_rest_complete(make_loop: LoopFactory) -> None:
    def fn(msg: InputMessage) -> Processed:
        if msg.offset % 10 == 3:
            raise ValueError(f"bad message {msg.offset}")
        return echo(msg)

    loop = make_loop(fn)
    loop.submit(messages(0, 300))
    loop.run_until(lambda: len(loop.outcomes) == 300, "300 completions")
    for offset in range(300):
        if offset % 10 == 3:
            assert loop.outcomes[offset] == Failure(f"ValueError: bad message {offset}", 1)
        else:
            assert loop.outcomes[offset] == echo(message(offset))


def test_a_transient_error_is_retried_to_success(make_loop: LoopFactory) -> None:
    attempts: Counter[int] = Counter()
    lock = threading.Lock()

    def fn(msg: InputMessage) -> Processed:
        with lock:
            attempts[msg.offset] += 1
            first = attempts[msg.offset] == 1
        if first and msg.offset % 2 == 0:
            raise TransientError("dependency restarting")
        return echo(msg)

    loop = make_loop(fn)
    loop.submit(messages(0, 100))
    loop.run_until(lambda: len(loop.outcomes) == 100, "100 completions")
    assert all(loop.outcomes[offset] == echo(message(offset)) for offset in range(100))
    assert all(attempts[offset] == (2 if offset % 2 == 0 else 1) for offset in range(100))


def test_cheap_work_stays_on_the_runnable_threads(make_loop: LoopFactory) -> None:
    loop = make_loop(echo)
    for start in range(0, 5000, 250):
        loop.submit(messages(start, 250))
        loop.tick()
    loop.run_until(lambda: len(loop.outcomes) == 5000, "5000 completions")
    assert loop.pool.threads == 1
    assert loop.pool.waiting == 0


def burn_10ms(msg: InputMessage) -> Processed:
    """Pure Python for 10 ms: holds the GIL, so the other worker waits for it meanwhile."""
    until = time.thread_time() + 0.010
    while time.thread_time() < until:
        pass
    return echo(msg)


def test_calls_waiting_for_the_gil_are_not_taken_for_stuck_ones(make_loop: LoopFactory) -> None:
    """A worker that waits for the GIL uses no CPU, like one waiting on I/O; but another thread
    cannot help while the process computes flat out, it would only contend for the GIL too."""
    loop = make_loop(burn_10ms)
    loop.submit(messages(0, 150))
    loop.run_until(lambda: len(loop.outcomes) == 150, "150 completions", deadline_s=10.0)
    # The runnable one, plus a few taken for stuck while other processes had the CPU (the point
    # is not to grow by one thread per call, to max_workers, as waiting for the GIL used to).
    assert loop.pool.threads <= 10


def test_a_stuck_call_does_not_hold_up_the_rest_of_its_batch(make_loop: LoopFactory) -> None:
    gate = Gate(lambda msg: msg.offset == 0)
    loop = make_loop(gate)
    loop.submit(messages(0, 201))
    loop.run_until(lambda: loop.completed(range(1, 201)), "the 200 fast messages")
    assert gate.inside == 1
    assert 0 not in loop.outcomes

    gate.release()
    loop.run_until(lambda: 0 in loop.outcomes, "the released message")
    assert loop.outcomes[0] == echo(message(0))
    assert set(loop.times_completed.values()) == {1}


def test_stuck_calls_each_get_a_thread(make_loop: LoopFactory) -> None:
    gate = Gate()
    loop = make_loop(gate, max_workers=100)
    loop.submit(messages(0, 50))
    loop.run_until(lambda: gate.entered == 50, "all 50 calls to be running")
    assert loop.pool.threads <= 100
    gate.release()
    loop.run_until(lambda: len(loop.outcomes) == 50, "50 completions")


def test_stuck_calls_beyond_max_workers_wait_for_a_thread(make_loop: LoopFactory) -> None:
    gate = Gate()
    loop = make_loop(gate, max_workers=10)
    loop.submit(messages(0, 50))
    loop.run_until(lambda: gate.entered == 10, "10 calls to be running")
    for _ in range(20):  # give the pool ticks in which it could (wrongly) grow further
        loop.tick()
    assert gate.peak == 10
    assert loop.pool.threads == 10
    assert loop.outcomes == {}

    gate.release()
    loop.run_until(lambda: len(loop.outcomes) == 50, "50 completions")
    assert gate.peak == 10
    assert loop.pool.threads == 10


def test_stuck_calls_take_about_one_thread_each(make_loop: LoopFactory) -> None:
    """One message per submit (as at low rates, one polled message at a time): 40 stuck calls
    want 40 threads plus the runnable ones, not a multiple of that."""
    gate = Gate()
    loop = make_loop(gate, max_workers=300)
    for offset in range(40):
        loop.submit([message(offset)])
    loop.run_until(lambda: gate.entered == 40, "40 stuck calls")
    for _ in range(20):  # ticks in which the pool could (wrongly) grow further
        loop.tick()
    # Stuck calls are judged over JUDGED_OVER_S, so a few more start before they are noticed.
    assert loop.pool.threads <= 40 + 2 + 14


def test_no_calls_are_reported_waiting_once_the_stuck_ones_end(make_loop: LoopFactory) -> None:
    """``waiting`` (exported as a gauge) counts demoted workers still in their call: after the
    calls return, the workers park and the count goes back to zero."""
    gate = Gate()
    loop = make_loop(gate)
    for offset in range(40):
        loop.submit([message(offset)])
    loop.run_until(lambda: gate.entered == 40, "40 stuck calls")
    assert loop.pool.waiting > 0
    gate.release()
    loop.run_until(lambda: len(loop.outcomes) == 40, "40 completions")
    loop.run_until(lambda: loop.pool.waiting == 0, "no calls to be waiting")


def test_workers_freed_by_stuck_calls_are_reused(make_loop: LoopFactory) -> None:
    """One message per submit (as at low rates, one polled message at a time), so each stuck
    call holds only itself: this is about threads, not about chunks."""
    gate = Gate()
    loop = make_loop(gate, max_workers=300)

    def wave(start: int) -> int:
        """40 calls stuck at once, then released; returns the threads it took to run them."""
        for offset in range(start, start + 40):
            loop.submit([message(offset)])
        loop.run_until(lambda: gate.entered == 40, f"the wave from {start} to be running")
        size = loop.pool.threads
        gate.release()
        loop.run_until(lambda: loop.completed(range(start, start + 40)), "the wave to complete")
        for _ in range(50):  # ticks in which the freed workers park
            loop.tick()
        gate.rearm()
        return size

    sizes = [wave(start) for start in range(0, 160, 40)]
    assert max(sizes) <= sizes[0] + 2 + 4, f"threads used by each wave of 40 stuck calls: {sizes}"


def test_shutdown_returns_promptly_with_idle_and_parked_workers(make_loop: LoopFactory) -> None:
    gate = Gate(lambda msg: msg.offset < 20)
    loop = make_loop(gate)
    for offset in range(20):
        loop.submit([message(offset)])
    loop.submit(messages(20, 200))
    loop.run_until(lambda: gate.entered == 20, "20 stuck calls")
    gate.release()
    loop.run_until(lambda: len(loop.outcomes) == 220, "220 completions")
    for _ in range(50):  # ticks in which the freed workers park
        loop.tick()
    assert loop.pool.threads > 2  # some workers were started for the stuck calls
    assert shut_down(loop.pool) < 1.0


def test_shutdown_of_a_fresh_pool_returns_promptly(make_loop: LoopFactory) -> None:
    loop = make_loop(echo)
    assert shut_down(loop.pool) < 1.0
