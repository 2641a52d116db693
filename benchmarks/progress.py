"""Throughput and latency figures from observations: pure arithmetic, no I/O."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Sample = tuple[float, int]
"""(monotonic time, messages in the output topic)."""


@dataclass(frozen=True)
class Progress:
    """How the output topic filled up during one run."""

    started: float
    total: int
    samples: tuple[Sample, ...]

    @property
    def done(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    @property
    def elapsed_s(self) -> float | None:
        """Start to the last message out, or None if the run was cut off first."""
        finished = crossing(self.samples, self.total)
        return None if finished is None else finished - self.started

    def steady_rate(self, low: float = 0.1, high: float = 0.9) -> float:
        """Messages/s between ``low`` and ``high`` of the total (or the last sample).

        Leaves out the group join and warm-up at the start and the stragglers at the end, so
        runs of different lengths compare by what they do while busy.
        """
        if len(self.samples) < 2:
            return 0.0
        start = crossing(self.samples, low * self.total)
        if start is None:
            last_t, last_n = self.samples[-1]
            return last_n / (last_t - self.started) if last_t > self.started else 0.0
        end = crossing(self.samples, high * self.total)
        end_t, end_n = (end, high * self.total) if end is not None else self.samples[-1]
        if end_t <= start:
            return 0.0
        return (end_n - low * self.total) / (end_t - start)


def crossing(samples: Sequence[Sample], target: float) -> float | None:
    """When the count first reached ``target``, interpolated between samples."""
    previous: Sample | None = None
    for sample in samples:
        t, n = sample
        if n >= target:
            if previous is None or n == previous[1]:
                return t
            t0, n0 = previous
            return t0 + (t - t0) * (target - n0) / (n - n0)
        previous = sample
    return None


@dataclass(frozen=True)
class Latency:
    count: int
    p50_ms: float
    p99_ms: float


def latency(values_ms: Sequence[float]) -> Latency | None:
    if len(values_ms) < 2:
        return None
    cuts = statistics.quantiles(values_ms, n=100, method="inclusive")
    return Latency(len(values_ms), cuts[49], cuts[98])
