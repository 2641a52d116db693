"""A latency histogram cheap enough to observe every message on the consumer loop's hot path.

prometheus_client's Histogram takes a lock and resolves labels on every observation, which cost
more than consuming the message did. Here one writer thread bumps plain list counters; the
scrape thread reads them, so a scrape may see a count one observation ahead of the sum.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


class Buckets:
    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value


class FastHistogram(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        bounds: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._doc = documentation
        self._labelnames = list(labelnames)
        self._bounds = tuple(sorted(bounds))
        self._children: dict[tuple[str, ...], Buckets] = {}
        registry.register(self)

    def labels(self, *values: str) -> Buckets:
        child = self._children.get(values)
        if child is None:
            child = self._children.setdefault(values, Buckets(self._bounds))
        return child

    def remove(self, *values: str) -> None:
        self._children.pop(values, None)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labelnames)
        for values, child in list(self._children.items()):
            cumulative, running = [], 0
            for bound, count in zip((*self._bounds, float("inf")), list(child.counts), strict=True):
                running += count
                cumulative.append((_le(bound), running))
            family.add_metric(list(values), cumulative, sum_value=child.total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self._name, self._doc, labels=self._labelnames)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))
