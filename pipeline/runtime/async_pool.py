"""Coroutine process functions on one event-loop thread: a call waiting on I/O holds no thread.

A threads-mode stage whose process function is ``async def`` runs here. Thousands of calls can
wait at once (an HTTP fetch, a retry backoff) as suspended coroutines: timers and sockets on one
loop, not thousands of threads each needing the GIL back when its wait ends.

Most calls finish without suspending, so each one is first driven by hand, with a single
``send``: no Task, no scheduling. Only a call that does suspend becomes an asyncio Task, which
carries on from where the hand-driven start stopped.
"""

from __future__ import annotations

import asyncio
import threading
import types
from collections.abc import Coroutine, Generator, Sequence
from queue import SimpleQueue
from typing import Any, TypeVar

from pipeline.runtime.messages import InputMessage
from pipeline.runtime.pool import Outcome, failure_of
from pipeline.runtime.retry import FailedAfterRetries, RetryPolicy
from pipeline.runtime.stage import AsyncProcessFn

T = TypeVar("T")


@types.coroutine
def _resume(coro: Coroutine[Any, Any, T], waiting_on: Any) -> Generator[Any, Any, T]:
    """Continue a coroutine that was started by hand and suspended on ``waiting_on``.

    Yielding what the coroutine yielded hands it to the Task running this, exactly as if the
    Task had started the coroutine itself; whatever the Task sends or throws is passed on.
    """
    while True:
        try:
            sent = yield waiting_on
        except BaseException as exc:  # cancellation, or an error set on the awaited future
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            continue
        try:
            waiting_on = coro.send(sent)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


class AsyncPool:
    def __init__(
        self, fn: AsyncProcessFn, retry: RetryPolicy, completions: SimpleQueue[Any]
    ) -> None:
        self._fn = fn
        self._retry = retry
        self._completions = completions
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="stage-event-loop", daemon=True)
        self._thread.start()

    threads = 1
    """The event loop's."""

    @property
    def waiting(self) -> int:
        """Calls suspended on I/O right now."""
        return len(self._tasks)

    def submit(self, tasks: Sequence[InputMessage]) -> None:
        self._loop.call_soon_threadsafe(self._start_all, list(tasks))

    def adjust(self) -> None:
        """Nothing to size: a waiting call costs no thread."""

    def shutdown(self, wait: bool) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if wait:
            self._thread.join()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                self._loop.run_until_complete(asyncio.wait(self._tasks))
            self._loop.close()

    def _start_all(self, tasks: list[InputMessage]) -> None:
        put, fn = self._completions.put, self._fn
        for task in tasks:
            try:
                coro = fn(task)
                waiting_on = coro.send(None)
            except StopIteration as done:  # finished without suspending: the common case
                put((task, done.value))
            except Exception as exc:
                self._spawn(self._recover(task, exc))
            else:
                self._spawn(self._carry_on(task, coro, waiting_on))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _carry_on(
        self, task: InputMessage, coro: Coroutine[Any, Any, Any], waiting_on: Any
    ) -> None:
        try:
            outcome: Outcome = await _resume(coro, waiting_on)
        except Exception as exc:
            await self._recover(task, exc)
            return
        self._completions.put((task, outcome))

    async def _recover(self, task: InputMessage, error: Exception) -> None:
        try:
            outcome: Outcome = await self._retry.recover_async(self._fn, task, error)
        except FailedAfterRetries as failed:
            outcome = failure_of(failed)
        self._completions.put((task, outcome))
