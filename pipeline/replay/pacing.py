"""The replay's rate limit: the generator's token bucket, with a tenth of a second of burst."""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.generator.rate import TokenBucket


def rate_limiter(
    rate: float | None, clock: Callable[[], float] = time.monotonic
) -> TokenBucket | None:
    """None for no limit. The burst keeps high rates from waking up once per record."""
    if rate is None or rate <= 0:
        return None
    return TokenBucket(rate, burst=max(1.0, rate / 10), clock=clock)
