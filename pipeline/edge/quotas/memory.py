"""Quotas counted in this process: the embedded default, one edge replica's own view."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.edge.quota_api import QuotaDecision
from pipeline.edge.quotas.counters import ALLOWED, Counter, QuotaPlan
from pipeline.edge.quotas.metrics import QuotaMetrics
from pipeline.edge.quotas.settings import QuotaSettings


@dataclass
class _Window:
    used: int
    ends_at: float


class InProcessQuota:
    """Fixed windows in a dict. ``check`` never awaits between reading and charging the
    counters, so concurrent checks on one event loop cannot overshoot: no lock is needed.
    Not for use from several threads."""

    def __init__(
        self,
        settings: QuotaSettings,
        metrics: QuotaMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._plan = QuotaPlan(settings)
        self._metrics = metrics
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._prune_above = 1024

    @property
    def windows_held(self) -> int:
        """Counters in memory (ended ones are forgotten as new ones start)."""
        return len(self._windows)

    async def check(
        self, project_id: int, public_key: str, category: str, quantity: int
    ) -> QuotaDecision:
        return self.check_now(project_id, public_key, category, quantity)

    def check_now(
        self, project_id: int, public_key: str, category: str, quantity: int
    ) -> QuotaDecision:
        """``check`` without the coroutine, for callers that are not async."""
        counters = self._plan.counters(project_id, public_key, category, quantity)
        if not counters:
            return ALLOWED
        now = self._clock()
        windows = [self._window(counter, now) for counter in counters]
        for counter, window in zip(counters, windows, strict=True):
            if window.used + quantity > counter.limit:
                self._metrics.refused.labels(counter.scope).inc(quantity)
                return self._plan.refused(counter.scope, counter.reason, window.ends_at - now)
        for window in windows:
            window.used += quantity
        return ALLOWED

    async def close(self) -> None:
        """Nothing to release; here so the edge closes either backend alike."""

    def _window(self, counter: Counter, now: float) -> _Window:
        window = self._windows.get(counter.name)
        if window is None or window.ends_at <= now:
            window = _Window(0, now + counter.window_s)
            self._windows[counter.name] = window
            self._prune(now)
        return window

    def _prune(self, now: float) -> None:
        """Forget ended windows once the dict has doubled, so memory follows live counters."""
        if len(self._windows) <= self._prune_above:
            return
        self._windows = {k: w for k, w in self._windows.items() if w.ends_at > now}
        self._prune_above = max(1024, 2 * len(self._windows))
