"""Retry in place for transient errors: backoff with jitter, bounded in attempts and time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from pipeline.runtime.errors import TransientError

T = TypeVar("T")
A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    max_seconds: float = 30.0
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0

    def call(self, fn: Callable[[A], T], arg: A) -> T:
        """Run ``fn``, retrying TransientError; raises FailedAfterRetries with the attempt count.

        The first attempt runs without tenacity: almost every call succeeds at once, and the
        retry machinery costs more than a cheap stage function.
        """
        try:
            return fn(arg)
        except Exception as exc:
            return self.recover(fn, arg, exc)

    def recover(self, fn: Callable[[A], T], arg: A, error: Exception) -> T:
        """Continue after the first attempt of ``fn(arg)`` raised ``error``.

        Tenacity replays that attempt (re-raising ``error`` instead of calling again), so the
        first retry backs off like every later one and the attempts are counted from 1.
        """
        self._check_retriable(error)
        first: list[Exception] = [error]

        def attempt(value: A) -> T:
            if first:
                raise first.pop()
            return fn(value)

        retrying = Retrying(**self._tenacity())
        try:
            return retrying(attempt, arg)
        except Exception as exc:
            raise FailedAfterRetries(exc, retrying.statistics.get("attempt_number", 1)) from exc

    async def recover_async(self, fn: Callable[[A], Awaitable[T]], arg: A, error: Exception) -> T:
        """``recover`` for a coroutine function: the backoff waits without holding a thread."""
        self._check_retriable(error)
        first: list[Exception] = [error]

        async def attempt(value: A) -> T:
            if first:
                raise first.pop()
            return await fn(value)

        retrying = AsyncRetrying(**self._tenacity())
        try:
            return await retrying(attempt, arg)
        except Exception as exc:
            raise FailedAfterRetries(exc, retrying.statistics.get("attempt_number", 1)) from exc

    def _check_retriable(self, error: Exception) -> None:
        if not isinstance(error, TransientError):
            raise FailedAfterRetries(error, 1) from error
        if self.attempts < 2:
            raise FailedAfterRetries(TransientError("no retries allowed"), 1)

    def _tenacity(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.attempts) | stop_after_delay(self.max_seconds),
            "wait": wait_random_exponential(
                multiplier=self.initial_backoff_s, max=self.max_backoff_s
            ),
            "retry": retry_if_exception_type(TransientError),
            "reraise": True,
        }


class FailedAfterRetries(Exception):
    """Carries how many attempts were made, for the DLQ headers."""

    def __init__(self, cause: BaseException, attempts: int) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.attempts = attempts
