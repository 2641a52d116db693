"""A token bucket for every rate option (generate, replay, dev): smooth, no busy loop."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up while idle.

    ``reserve`` takes a token at once and says how long to wait before using it, so the caller
    can wait on something interruptible (``threading.Event.wait``) instead of sleeping here.
    """

    def __init__(
        self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self._rate = rate
        self._burst = max(1.0, burst)
        self._clock = clock
        self._tokens = 1.0
        self._last = clock()

    def reserve(self, tokens: float = 1.0) -> float:
        """Seconds to wait before the reserved tokens may be spent (0 when they are there)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


def rate_limiter(
    rate: float | None, clock: Callable[[], float] = time.monotonic
) -> TokenBucket | None:
    """None for no limit (``rate`` unset or 0). A tenth of a second of burst keeps high rates
    from waking up once per record."""
    if rate is None or rate <= 0:
        return None
    return TokenBucket(rate, burst=max(1.0, rate / 10), clock=clock)
