"""Coroutine process functions on one event-loop thread: a call waiting on I/O holds no thread.

A threads-mode stage whose process function is ``async def`` runs here. Thousands of calls can
wait at once (an HTTP fetch, a retry backoff) as suspended coroutines: timers and sockets on one
loop, not thousands of threads each needing the GIL back when its wait ends.

Each call is an asyncio Task, so it has what asyncio code expects: ``current_task()`` (which
``asyncio.timeout`` and httpx rely on) and a context of its own (log fields bound while
handling one message stay with it). Where Python has eager tasks (3.12+), a call that finishes
without waiting is never scheduled at all.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from queue import SimpleQueue
from typing import Any

from pipeline.runtime.messages import InputMessage
from pipeline.runtime.pool import Outcome, failure_of
from pipeline.runtime.retry import FailedAfterRetries, RetryPolicy
from pipeline.runtime.stage import AsyncProcessFn


class AsyncPool:
    def __init__(
        self, fn: AsyncProcessFn, retry: RetryPolicy, completions: SimpleQueue[Any]
    ) -> None:
        self._fn = fn
        self._retry = retry
        self._completions = completions
        self._loop = asyncio.new_event_loop()
        eager = getattr(asyncio, "eager_task_factory", None)  # Python 3.12+
        if eager is not None:
            self._loop.set_task_factory(eager)
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
        for task in tasks:
            self._spawn(self._call(task))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        if not task.done():
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)

    async def _call(self, task: InputMessage) -> None:
        try:
            outcome: Outcome = await self._fn(task)
        except Exception as exc:
            try:
                outcome = await self._retry.recover_async(self._fn, task, exc)
            except FailedAfterRetries as failed:
                outcome = failure_of(failed)
        self._completions.put((task, outcome))
