"""The cohort counts of one stage process for Prometheus.

Gauges, not counters: a partition's counts arrive with it on assignment and leave with it on
revocation. Sum them over instances (``sum by (stage, cohort, outcome)``). Only the newest
cohorts are exported, which bounds the label cardinality.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.cohorts.book import CohortBook
from pipeline.cohorts.counts import COLUMNS, OUTCOMES

EXPORTED_COHORTS = 30
COLUMN_NAMES = (*OUTCOMES, "replayed")


class CohortCollector(Collector):
    def __init__(self, book: CohortBook, exported: int = EXPORTED_COHORTS) -> None:
        self._book = book
        self._exported = exported

    def collect(self) -> Iterator[GaugeMetricFamily]:
        done: dict[int, list[int]] = {}
        in_flight: dict[int, int] = {}
        for part, _ in list(self._book.parts.values()):  # read from the scrape thread
            for cohort, row in list(part.done.items()):
                total = done.setdefault(cohort, [0] * COLUMNS)
                for column, count in enumerate(list(row)):
                    total[column] += count
            for cohort, count in list(part.in_flight.items()):
                in_flight[cohort] = in_flight.get(cohort, 0) + count
        newest = sorted(done.keys() | in_flight.keys())[-self._exported :]
        stage = self._book.stage
        messages = GaugeMetricFamily(
            "pipeline_cohort_messages",
            "Messages of a receive cohort this stage finished (committed), by outcome.",
            labels=["stage", "cohort", "outcome"],
        )
        holding = GaugeMetricFamily(
            "pipeline_cohort_in_flight_messages",
            "Messages of a receive cohort this stage took and has not committed yet.",
            labels=["stage", "cohort"],
        )
        for cohort in newest:
            label = self._label(cohort)
            for column, count in enumerate(done.get(cohort, ())):
                messages.add_metric([stage, label, COLUMN_NAMES[column]], count)
            holding.add_metric([stage, label], in_flight.get(cohort, 0))
        yield messages
        yield holding

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def _label(self, cohort: int) -> str:
        """Same format as the end-to-end latency's cohort label, so the two join."""
        return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(cohort * self._book.width_ms / 1000))
