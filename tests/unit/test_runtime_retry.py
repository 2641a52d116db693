"""RetryPolicy and run_one: transient errors retry in place, bounded; others fail at once."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pipeline.runtime.errors import TransientError
from pipeline.runtime.messages import InputMessage, Processed
from pipeline.runtime.pool import Failure, run_one
from pipeline.runtime.retry import FailedAfterRetries, RetryPolicy

FAST = RetryPolicy(attempts=5, max_seconds=10.0, initial_backoff_s=0.001, max_backoff_s=0.002)


def failing(
    times: int, error: Exception, result: str = "ok"
) -> tuple[Callable[[int], str], list[int]]:
    """A function that raises ``error`` on its first ``times`` calls; the list counts calls."""
    calls: list[int] = []

    def fn(arg: int) -> str:
        calls.append(arg)
        if len(calls) <= times:
            raise error
        return result

    return fn, calls


def test_a_success_is_returned_after_one_call() -> None:
    fn, calls = failing(0, TransientError())
    assert FAST.call(fn, 1) == "ok"
    assert calls == [1]


def test_transient_errors_are_retried_until_success() -> None:
    fn, calls = failing(2, TransientError("flaky"))
    assert FAST.call(fn, 1) == "ok"
    assert len(calls) == 3


def test_other_errors_fail_at_once() -> None:
    fn, calls = failing(1, ValueError("bad input"))
    with pytest.raises(FailedAfterRetries) as raised:
        FAST.call(fn, 1)
    assert raised.value.attempts == 1
    assert isinstance(raised.value.cause, ValueError)
    assert str(raised.value) == "ValueError: bad input"
    assert len(calls) == 1


def test_transient_errors_stop_after_the_attempt_limit() -> None:
    fn, calls = failing(100, TransientError("down"))
    with pytest.raises(FailedAfterRetries) as raised:
        FAST.call(fn, 1)
    assert raised.value.attempts == FAST.attempts == len(calls)
    assert isinstance(raised.value.cause, TransientError)


def test_one_attempt_means_no_retry() -> None:
    fn, calls = failing(1, TransientError())
    with pytest.raises(FailedAfterRetries) as raised:
        RetryPolicy(attempts=1).call(fn, 1)
    assert raised.value.attempts == 1
    assert len(calls) == 1


def test_retrying_stops_after_the_time_limit() -> None:
    policy = RetryPolicy(
        attempts=10_000, max_seconds=0.2, initial_backoff_s=0.01, max_backoff_s=0.02
    )
    fn, calls = failing(10_000, TransientError())
    started = time.monotonic()
    with pytest.raises(FailedAfterRetries) as raised:
        policy.call(fn, 1)
    assert time.monotonic() - started < 2.0
    assert raised.value.attempts == len(calls) < 100


def test_run_one_turns_a_failure_into_plain_data() -> None:
    msg = InputMessage("t", 0, 7, None, b"x", 0)

    def broken(_: InputMessage) -> Processed:
        raise KeyError("missing")

    assert run_one(broken, FAST, msg) == Failure("KeyError: 'missing'", 1)
    assert run_one(lambda m: Processed(), FAST, msg) == Processed()
