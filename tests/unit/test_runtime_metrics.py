"""StageMetrics cohorts: end-to-end latency by receive minute, only the newest cohorts kept.

Cohorts are told apart by their observation counts, so the tests do not depend on the label
format."""

from __future__ import annotations

import calendar
import time

from prometheus_client import CollectorRegistry

from pipeline.observability.metrics import StageMetrics

MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
T0_MS = calendar.timegm(time.strptime("2026-03-04 08:42", "%Y-%m-%d %H:%M")) * 1000


def exported(registry: CollectorRegistry) -> dict[str, float]:
    """Observation count per cohort label, as a scrape sees it."""
    return {
        sample.labels["cohort"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "pipeline_end_to_end_seconds_count"
    }


def observe(metrics: StageMetrics, received_at_ms: int, times: int) -> None:
    for _ in range(times):
        metrics.cohort_latency(received_at_ms).observe(0.1)


def test_one_histogram_per_receive_minute() -> None:
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize")
    assert metrics.cohort_latency(T0_MS + 1_000) is metrics.cohort_latency(T0_MS + 59_999)
    observe(metrics, T0_MS, 2)
    observe(metrics, T0_MS + MINUTE_MS, 1)
    assert sorted(exported(registry).values()) == [1.0, 2.0]


def test_only_the_newest_cohorts_are_kept() -> None:
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize", cohorts_kept=3)
    for minute in range(5):
        observe(metrics, T0_MS + minute * MINUTE_MS, minute + 1)
    assert sorted(exported(registry).values()) == [3.0, 4.0, 5.0]
    assert len(metrics.cohorts) == 3


def test_an_event_older_than_every_kept_cohort_evicts_none_of_them() -> None:
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize", cohorts_kept=2)
    observe(metrics, T0_MS + 10 * MINUTE_MS, 1)
    observe(metrics, T0_MS + 11 * MINUTE_MS, 2)
    observe(metrics, T0_MS, 5)
    assert sorted(exported(registry).values()) == [1.0, 2.0]


def test_pruning_a_day_old_cohort_keeps_todays_cohort_of_the_same_minute() -> None:
    """A replayed event from yesterday 08:42 must not drop (or pollute) today's 08:42 cohort."""
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize", cohorts_kept=2)
    observe(metrics, T0_MS, 1)
    observe(metrics, T0_MS - DAY_MS, 3)
    observe(metrics, T0_MS + MINUTE_MS, 1)  # three cohorts: yesterday's is pruned
    observe(metrics, T0_MS, 1)
    assert sorted(exported(registry).values()) == [1.0, 2.0], exported(registry)
