"""Quantiles from Prometheus histogram buckets, the way PromQL's histogram_quantile does it."""

from __future__ import annotations

import math
from collections.abc import Sequence

Buckets = tuple[tuple[float, float], ...]
"""(upper bound ``le``, cumulative count) pairs, ascending, the last one ``+Inf``."""


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Linear interpolation inside the bucket holding rank ``q * total``; None when empty.

    A rank in the ``+Inf`` bucket answers the highest finite bound, as Prometheus does.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def bucket_increase(current: Buckets, earlier: Buckets | None) -> Buckets:
    """Observations between two scrapes of one series; a reset (restart) counts from zero."""
    if earlier is None or len(earlier) != len(current):
        return current
    if any(now < then for (_, now), (_, then) in zip(current, earlier, strict=True)):
        return current
    return tuple(
        (bound, now - then) for (bound, now), (_, then) in zip(current, earlier, strict=True)
    )


def merge_buckets(series: Sequence[Buckets]) -> Buckets:
    """Sum of histograms with the same bounds (e.g. every cohort of one stage)."""
    if not series:
        return ()
    bounds = [bound for bound, _ in series[0]]
    totals = [0.0] * len(bounds)
    for buckets in series:
        for i, (_, count) in enumerate(buckets):
            totals[i] += count
    return tuple(zip(bounds, totals, strict=True))
