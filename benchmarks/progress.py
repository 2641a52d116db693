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


def value_at(samples: Sequence[tuple[float, float]], at: float) -> float | None:
    """A sampled quantity (e.g. CPU seconds used) at time ``at``, interpolated between samples;
    None outside the samples."""
    previous: tuple[float, float] | None = None
    for t, value in samples:
        if t >= at:
            if previous is None:
                return value if t == at else None
            t0, v0 = previous
            return v0 + (value - v0) * (at - t0) / (t - t0) if t > t0 else value
        previous = (t, value)
    return None


def busy_per_item(
    progress: Progress,
    used: Sequence[tuple[float, float]],
    low: float = 0.1,
    high: float = 0.9,
) -> float | None:
    """How much of ``used`` (a sampled running total, e.g. CPU seconds) went into each item
    while the run was busy: between ``low`` and ``high`` of the total, as steady_rate counts,
    so start-up, group join and the stragglers' tail are left out. None if not reached."""
    start = crossing(progress.samples, low * progress.total)
    end = crossing(progress.samples, high * progress.total)
    if start is None or end is None or end <= start:
        return None
    first, last = value_at(used, start), value_at(used, end)
    if first is None or last is None:
        return None
    return (last - first) / ((high - low) * progress.total)


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
