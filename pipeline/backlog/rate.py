"""A token bucket deciding whether the drain may keep taking messages."""

from __future__ import annotations

from collections.abc import Callable


class RateGate:
    """Over the long run at most ``rate_per_s`` messages; a burst of one second's worth.

    Fed once per tick with what was taken since, so the drain overshoots by at most one
    tick's intake, then pauses until the bucket refills.
    """

    def __init__(self, rate_per_s: float, clock: Callable[[], float]) -> None:
        self._rate = rate_per_s
        self._clock = clock
        self._tokens = rate_per_s
        self._last = clock()

    def exhausted(self, taken: int) -> bool:
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate) - taken
        self._last = now
        return self._tokens < 0
