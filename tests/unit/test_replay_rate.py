"""The replay's rate limit on an injected clock: waits add up to the rate, bursts stay small."""

from __future__ import annotations

from pipeline.replay.pacing import rate_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_no_rate_means_no_limiter() -> None:
    assert rate_limiter(None) is None
    assert rate_limiter(0) is None


def test_records_are_spread_over_time_at_the_rate() -> None:
    clock = FakeClock()
    limiter = rate_limiter(100.0, clock)
    assert limiter is not None
    for _ in range(200):
        clock.now += limiter.reserve()  # the copy loop waits this long, interruptibly
    assert 1.95 <= clock.now <= 2.0


def test_an_idle_limiter_saves_up_a_tenth_of_a_second_at_most() -> None:
    clock = FakeClock()
    limiter = rate_limiter(100.0, clock)
    assert limiter is not None
    clock.now = 60.0
    waits = [limiter.reserve() for _ in range(15)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] > 0
    assert abs(waits[14] - 0.05) < 1e-9
