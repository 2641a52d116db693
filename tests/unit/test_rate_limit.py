"""The token bucket paces records without sleeping itself; the caller waits."""

from __future__ import annotations

import pytest

from pipeline.rate_limit import TokenBucket, rate_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_first_token_is_free_then_each_waits_one_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock)
    assert bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)


def test_a_caller_that_waits_as_told_runs_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, burst=5, clock=clock)
    start = clock.now
    for _ in range(500):
        clock.now += bucket.reserve()
    assert 500 / (clock.now - start) == pytest.approx(50, rel=0.01)


def test_idle_time_saves_up_at_most_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=3, clock=clock)
    bucket.reserve()
    clock.now += 60
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert bucket.reserve() == pytest.approx(0.1)


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_no_rate_means_no_limiter() -> None:
    assert rate_limiter(None) is None
    assert rate_limiter(0) is None


def test_records_are_spread_over_time_at_the_rate() -> None:
    clock = FakeClock()
    limiter = rate_limiter(100.0, clock)
    assert limiter is not None
    start = clock.now
    for _ in range(200):
        clock.now += limiter.reserve()  # the copy loop waits this long, interruptibly
    assert 1.95 <= clock.now - start <= 2.0


def test_an_idle_limiter_saves_up_a_tenth_of_a_second_at_most() -> None:
    clock = FakeClock()
    limiter = rate_limiter(100.0, clock)
    assert limiter is not None
    clock.now += 60.0
    waits = [limiter.reserve() for _ in range(15)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] > 0
    assert abs(waits[14] - 0.05) < 1e-9
