"""AsyncPool: every call completes once, a waiting call holds up nothing and holds no thread.

The tests play the consumer loop: they submit messages from their own thread and drain the
completion queue, always with a deadline, so a pool that loses or stalls work fails the test
instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from queue import Empty, SimpleQueue
from typing import Any

import pytest

from pipeline.runtime.async_pool import AsyncPool
from pipeline.runtime.errors import TransientError
from pipeline.runtime.messages import InputMessage, Processed, Write
from pipeline.runtime.pool import Completion, Failure, Outcome
from pipeline.runtime.retry import RetryPolicy
from pipeline.runtime.stage import AsyncProcessFn, StageSpec, is_async
from tests.support.pools import leftovers, shut_down

FAST_RETRY = RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.01)
DEADLINE_S = 3.0
"""Generous for a loaded CI machine; a passing run takes a small fraction of it."""


def message(offset: int) -> InputMessage:
    return InputMessage("in", 0, offset, None, b"%d" % offset, 0)


def messages(start: int, count: int) -> list[InputMessage]:
    return [message(offset) for offset in range(start, start + count)]


def result(item: Any) -> Processed:
    return Processed((Write(item),))


async def echo(msg: InputMessage) -> Processed:
    """Never suspends; the outcome names its message, so a mixed-up completion shows."""
    return result(msg.offset)


class Completions:
    """The loop's side of the completion queue: what completed, how often, in which order."""

    def __init__(self, queue: SimpleQueue[Completion]) -> None:
        self._queue = queue
        self.order: list[int] = []
        self.outcomes: dict[int, Outcome] = {}
        self.times_completed: Counter[int] = Counter()

    def drain_until(self, count: int, what: str, deadline_s: float = DEADLINE_S) -> None:
        """Collect until ``count`` completions in all have arrived, or fail at the deadline."""
        deadline = time.monotonic() + deadline_s
        while len(self.order) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out waiting for {what}: {len(self.order)} of {count} completed"
                )
            try:
                task, outcome = self._queue.get(timeout=min(remaining, 0.05))
            except Empty:
                continue
            assert isinstance(task, InputMessage)
            self.order.append(task.offset)
            self.outcomes[task.offset] = outcome
            self.times_completed[task.offset] += 1

    def leftovers(self) -> list[Completion]:
        return leftovers(self._queue)


PoolFactory = Callable[..., tuple[AsyncPool, Completions]]


@pytest.fixture
def make_pool() -> Iterator[PoolFactory]:
    """Pools for one test, each shut down at teardown (cancelling whatever still waits)."""
    pools: list[AsyncPool] = []

    def make(fn: AsyncProcessFn, retry: RetryPolicy = FAST_RETRY) -> tuple[AsyncPool, Completions]:
        queue: SimpleQueue[Completion] = SimpleQueue()
        pool = AsyncPool(fn, retry, queue)
        pools.append(pool)
        return pool, Completions(queue)

    yield make
    for pool in pools:
        shut_down(pool)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


# --- calls that never suspend -------------------------------------------------------------


def test_ten_thousand_calls_that_never_wait_each_complete_once(make_pool: PoolFactory) -> None:
    pool, done = make_pool(echo)
    for start in range(0, 10_000, 500):  # several submits, as the loop does while it polls
        pool.submit(messages(start, 500))
    done.drain_until(10_000, "10000 completions")
    shut_down(pool)
    assert done.leftovers() == []
    assert set(done.times_completed) == set(range(10_000))
    assert set(done.times_completed.values()) == {1}
    assert all(done.outcomes[offset] == result(offset) for offset in range(10_000))
    assert pool.waiting == 0


def test_calls_run_off_the_submitting_thread(make_pool: PoolFactory) -> None:
    ran_on: list[int] = []

    async def fn(msg: InputMessage) -> Processed:
        ran_on.append(threading.get_ident())
        return result(msg.offset)

    pool, done = make_pool(fn)
    pool.submit(messages(0, 10))
    done.drain_until(10, "10 completions")
    assert len(ran_on) == 10
    assert threading.get_ident() not in ran_on


# --- calls that wait ----------------------------------------------------------------------


def test_waiting_calls_hold_up_nothing_and_hold_no_thread(make_pool: PoolFactory) -> None:
    """500 calls sleeping 0.2-0.5 s interleaved with 500 immediate ones, in one batch."""
    threads_seen: set[int] = set()
    waiting_seen: list[int] = []
    thread_counts: list[int] = []
    pools: list[AsyncPool] = []

    def sleeps(offset: int) -> bool:
        return offset % 2 == 0

    async def fn(msg: InputMessage) -> Processed:
        threads_seen.add(threading.get_ident())
        if sleeps(msg.offset):
            await asyncio.sleep(0.2 + (msg.offset % 4) * 0.1)
            threads_seen.add(threading.get_ident())
            waiting_seen.append(pools[0].waiting)
            thread_counts.append(threading.active_count())
        return result(msg.offset)

    pool, done = make_pool(fn)
    pools.append(pool)
    threads_before = threading.active_count()
    started = time.monotonic()
    pool.submit(messages(0, 1000))

    done.drain_until(500, "the 500 immediate calls")
    assert all(not sleeps(offset) for offset in done.order), "a sleeping call finished first"
    done.drain_until(1000, "the 500 sleeping calls")
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"500 concurrent sleeps of at most 0.5 s took {elapsed:.2f}s"
    assert set(done.times_completed.values()) == {1}
    assert all(done.outcomes[offset] == result(offset) for offset in range(1000))
    assert max(waiting_seen) == 500, "the first call to wake up saw all 500 waiting"
    assert max(thread_counts) <= threads_before, "waits started threads"
    assert len(threads_seen) == 1, "calls, before and after their waits, ran on one thread"
    wait_for(lambda: pool.waiting == 0, "no call left waiting")


def test_a_call_can_await_several_times_in_a_row(make_pool: PoolFactory) -> None:
    """A bare yield, an Event set from another thread, then a timer: the result comes back."""
    handoff: SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = SimpleQueue()

    async def fn(msg: InputMessage) -> Processed:
        trail = []
        await asyncio.sleep(0)
        trail.append("yielded")
        event = asyncio.Event()
        handoff.put((asyncio.get_running_loop(), event))
        await event.wait()
        trail.append("event")
        await asyncio.sleep(0.01)
        trail.append("slept")
        return result((msg.offset, tuple(trail)))

    pool, done = make_pool(fn)
    pool.submit([message(7)])
    loop, event = handoff.get(timeout=DEADLINE_S)
    assert done.leftovers() == []  # it is parked on the event
    loop.call_soon_threadsafe(event.set)
    done.drain_until(1, "the call after its event")
    assert done.outcomes == {7: result((7, ("yielded", "event", "slept")))}


def test_a_call_can_wait_on_an_event_another_call_sets(make_pool: PoolFactory) -> None:
    event = asyncio.Event()  # binds to the pool's loop on first use

    async def fn(msg: InputMessage) -> Processed:
        if msg.offset == 0:
            await event.wait()
            return result("woken")
        await asyncio.sleep(0.01)
        event.set()
        return result("set")

    pool, done = make_pool(fn)
    pool.submit(messages(0, 2))
    done.drain_until(2, "both calls")
    assert done.outcomes == {0: result("woken"), 1: result("set")}
    assert done.order == [1, 0]


@pytest.mark.parametrize("first_await", [True, False], ids=["first-await", "later-await"])
def test_an_error_on_an_awaited_future_is_raised_in_the_call(
    make_pool: PoolFactory, first_await: bool
) -> None:
    """Whether the failing future is what the call first suspends on (the hand-driven start) or
    a later one (inside the Task), the call sees the error and can handle it."""

    async def fn(msg: InputMessage) -> Processed:
        loop = asyncio.get_running_loop()
        if not first_await:
            await asyncio.sleep(0.001)
        future: asyncio.Future[str] = loop.create_future()
        loop.call_later(0.01, future.set_exception, LookupError(f"gone {msg.offset}"))
        try:
            await future
        except LookupError as exc:
            await asyncio.sleep(0)  # and it can carry on awaiting afterwards
            return result(f"caught {exc}")
        return result("not raised")

    pool, done = make_pool(fn)
    pool.submit(messages(0, 20))
    done.drain_until(20, "20 completions")
    assert all(done.outcomes[offset] == result(f"caught gone {offset}") for offset in range(20))


def test_a_call_can_time_out_an_await_and_carry_on(make_pool: PoolFactory) -> None:
    """asyncio.timeout cancels the Task running the call; the call turns that into TimeoutError,
    catches it and awaits again."""

    async def fn(msg: InputMessage) -> Processed:
        await asyncio.sleep(0)
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(30)
        except TimeoutError:
            await asyncio.sleep(0.001)
            return result("timed out")
        return result("not timed out")

    pool, done = make_pool(fn)
    pool.submit(messages(0, 5))
    done.drain_until(5, "5 completions")
    assert all(done.outcomes[offset] == result("timed out") for offset in range(5))


def test_a_call_can_use_a_timeout_before_its_first_await(make_pool: PoolFactory) -> None:
    async def fn(msg: InputMessage) -> Processed:
        async with asyncio.timeout(1):
            await asyncio.sleep(0.001)
        return result(msg.offset)

    pool, done = make_pool(fn)
    pool.submit(messages(0, 3))
    done.drain_until(3, "3 completions")
    assert done.outcomes == {offset: result(offset) for offset in range(3)}


def test_calls_do_not_see_each_others_context_variables(make_pool: PoolFactory) -> None:
    current: contextvars.ContextVar[int | None] = contextvars.ContextVar("current", default=None)

    async def fn(msg: InputMessage) -> Processed:
        seen = current.get()
        current.set(msg.offset)
        return result(seen)

    pool, done = make_pool(fn)
    pool.submit(messages(0, 3))
    done.drain_until(3, "3 completions")
    assert done.outcomes == {offset: result(None) for offset in range(3)}


# --- failures and retries -----------------------------------------------------------------


@pytest.mark.parametrize("after_await", [False, True], ids=["before-await", "after-await"])
def test_an_error_becomes_a_failure_after_one_attempt(
    make_pool: PoolFactory, after_await: bool
) -> None:
    calls: Counter[int] = Counter()

    async def fn(msg: InputMessage) -> Processed:
        calls[msg.offset] += 1
        if after_await:
            await asyncio.sleep(0.001)
        if msg.offset % 3 == 1:
            raise ValueError(f"bad message {msg.offset}")
        return result(msg.offset)

    pool, done = make_pool(fn)
    pool.submit(messages(0, 30))
    done.drain_until(30, "30 completions")
    for offset in range(30):
        if offset % 3 == 1:
            assert done.outcomes[offset] == Failure(f"ValueError: bad message {offset}", 1)
        else:
            assert done.outcomes[offset] == result(offset)
    assert set(calls.values()) == {1}
    assert set(done.times_completed.values()) == {1}


@pytest.mark.parametrize("after_await", [False, True], ids=["before-await", "after-await"])
def test_a_transient_error_is_retried_to_success(make_pool: PoolFactory, after_await: bool) -> None:
    calls: Counter[int] = Counter()

    async def fn(msg: InputMessage) -> Processed:
        calls[msg.offset] += 1
        if after_await:
            await asyncio.sleep(0.001)
        if calls[msg.offset] <= 2:
            raise TransientError("dependency restarting")
        return result(msg.offset)

    pool, done = make_pool(fn)
    pool.submit(messages(0, 20))
    done.drain_until(20, "20 completions")
    assert done.outcomes == {offset: result(offset) for offset in range(20)}
    assert set(calls.values()) == {3}
    assert set(done.times_completed.values()) == {1}


@pytest.mark.parametrize("after_await", [False, True], ids=["before-await", "after-await"])
def test_an_always_transient_error_fails_after_every_attempt(
    make_pool: PoolFactory, after_await: bool
) -> None:
    calls: Counter[int] = Counter()

    async def fn(msg: InputMessage) -> Processed:
        calls[msg.offset] += 1
        if after_await:
            await asyncio.sleep(0)
        raise TransientError(f"still down {msg.offset}")

    pool, done = make_pool(fn)
    pool.submit(messages(0, 5))
    done.drain_until(5, "5 completions")
    attempts = FAST_RETRY.attempts
    assert done.outcomes == {
        offset: Failure(f"TransientError: still down {offset}", attempts) for offset in range(5)
    }
    assert set(calls.values()) == {attempts}


# --- shutdown -----------------------------------------------------------------------------


def test_shutdown_cancels_waiting_calls_promptly_without_completing_them(
    make_pool: PoolFactory,
) -> None:
    entered: list[int] = []
    cancelled: list[int] = []

    async def fn(msg: InputMessage) -> Processed:
        if msg.offset >= 10:
            return result(msg.offset)
        entered.append(msg.offset)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(msg.offset)
            raise
        return result(msg.offset)

    pool, done = make_pool(fn)
    pool.submit(messages(0, 20))
    done.drain_until(10, "the 10 immediate calls")
    wait_for(lambda: pool.waiting == 10, "10 waiting calls")

    assert shut_down(pool) < 1.0
    assert sorted(done.order) == list(range(10, 20))
    assert done.leftovers() == []
    assert sorted(cancelled) == sorted(entered) == list(range(10))


def test_shutdown_cancels_a_call_that_only_yields(make_pool: PoolFactory) -> None:
    """A call parked on no future (a bare yield) can only be cancelled by throwing into it."""
    spins: list[int] = []

    async def fn(msg: InputMessage) -> Processed:
        while True:
            spins.append(msg.offset)
            await asyncio.sleep(0)

    pool, done = make_pool(fn)
    pool.submit(messages(0, 3))
    wait_for(lambda: len(spins) > 30, "the calls to spin")
    assert shut_down(pool) < 1.0
    assert done.leftovers() == []


def test_shutdown_cancels_calls_waiting_out_a_retry_backoff(make_pool: PoolFactory) -> None:
    """After its first failure a call waits out a backoff of up to a minute before retrying,
    which shutdown must not sit through."""
    calls: Counter[int] = Counter()

    async def fn(msg: InputMessage) -> Processed:
        calls[msg.offset] += 1
        raise TransientError("down")

    slow_retry = RetryPolicy(initial_backoff_s=30.0, max_backoff_s=60.0)
    pool, done = make_pool(fn, retry=slow_retry)
    pool.submit(messages(0, 5))
    wait_for(
        lambda: pool.waiting == 5 and all(calls[offset] == 1 for offset in range(5)),
        "every call to be backing off after its first attempt",
    )
    assert shut_down(pool) < 1.0
    assert done.leftovers() == []


def test_shutdown_of_a_fresh_pool_returns_promptly(make_pool: PoolFactory) -> None:
    pool, _ = make_pool(echo)
    assert shut_down(pool) < 1.0


# --- recognising coroutine functions --------------------------------------------------------


async def coroutine_fn(msg: InputMessage) -> Processed:
    return result(msg.offset)


def plain_fn(msg: InputMessage) -> Processed:
    return result(msg.offset)


class AsyncCallable:
    async def __call__(self, msg: InputMessage) -> Processed:
        return result(msg.offset)


class PlainCallable:
    def __call__(self, msg: InputMessage) -> Processed:
        return result(msg.offset)


class Handler:
    async def handle(self, msg: InputMessage) -> Processed:
        return result(msg.offset)


ASYNC_FNS: list[Any] = [
    pytest.param(coroutine_fn, id="async-def"),
    pytest.param(AsyncCallable(), id="async-call-object"),
    pytest.param(Handler().handle, id="bound-async-method"),
    pytest.param(functools.partial(coroutine_fn), id="partial-of-async-def"),
]
PLAIN_FNS: list[Any] = [
    pytest.param(plain_fn, id="def"),
    pytest.param(PlainCallable(), id="call-object"),
    pytest.param(lambda msg: result(msg.offset), id="lambda"),
]


@pytest.mark.parametrize("fn", ASYNC_FNS)
def test_is_async_recognises_coroutine_functions(fn: Any) -> None:
    assert is_async(fn)


@pytest.mark.parametrize("fn", PLAIN_FNS)
def test_is_async_rejects_plain_functions(fn: Any) -> None:
    assert not is_async(fn)


def stage(fn: Any, mode: Any) -> StageSpec:
    return StageSpec(name="fetcher", input_topic="in", group_id="g", process=fn, mode=mode)


@pytest.mark.parametrize("fn", ASYNC_FNS)
def test_a_coroutine_function_is_refused_in_processes_mode(fn: Any) -> None:
    with pytest.raises(ValueError, match="stage fetcher"):
        stage(fn, "processes")


@pytest.mark.parametrize("fn", ASYNC_FNS + PLAIN_FNS)
def test_threads_mode_takes_either_kind_of_function(fn: Any) -> None:
    assert stage(fn, "threads").process is fn


@pytest.mark.parametrize("fn", PLAIN_FNS)
def test_processes_mode_takes_a_plain_function(fn: Any) -> None:
    assert stage(fn, "processes").process is fn


def test_the_pool_runs_an_async_callable_object(make_pool: PoolFactory) -> None:
    pool, done = make_pool(AsyncCallable())
    pool.submit(messages(0, 3))
    done.drain_until(3, "3 completions")
    assert done.outcomes == {offset: result(offset) for offset in range(3)}
