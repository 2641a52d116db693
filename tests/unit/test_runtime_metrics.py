"""StageMetrics cohorts: end-to-end latency by receive minute, only the newest cohorts kept."""

from __future__ import annotations

import calendar
import time

from prometheus_client import CollectorRegistry

from pipeline.observability.metrics import StageMetrics

MINUTE_MS = 60_000
# 2026-03-04 08:42:00 UTC
T0_MS = calendar.timegm(time.strptime("2026-03-04 08:42", "%Y-%m-%d %H:%M")) * 1000


def exported(registry: CollectorRegistry) -> dict[str, float]:
    """Observation count per cohort label, as a scrape sees it."""
    return {
        sample.labels["cohort"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "pipeline_end_to_end_seconds_count"
    }


def test_one_histogram_per_receive_minute() -> None:
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize")
    first = metrics.cohort_latency(T0_MS + 1_000)
    assert metrics.cohort_latency(T0_MS + 59_999) is first
    first.observe(0.2)
    first.observe(0.3)
    metrics.cohort_latency(T0_MS + MINUTE_MS).observe(1.0)
    assert exported(registry) == {"08:42": 2.0, "08:43": 1.0}


def test_only_the_newest_cohorts_are_kept() -> None:
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize", cohorts_kept=3)
    for minute in range(5):
        metrics.cohort_latency(T0_MS + minute * MINUTE_MS).observe(0.1)
    assert sorted(exported(registry)) == ["08:44", "08:45", "08:46"]
    assert len(metrics.cohorts) == 3


def test_an_event_older_than_every_kept_cohort_evicts_none_of_them() -> None:
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize", cohorts_kept=2)
    for minute in (10, 11):
        metrics.cohort_latency(T0_MS + minute * MINUTE_MS).observe(0.1)
    metrics.cohort_latency(T0_MS).observe(5.0)
    assert sorted(exported(registry)) == ["08:52", "08:53"]


def test_pruning_a_day_old_cohort_keeps_todays_cohort_of_the_same_minute() -> None:
    """A replayed event from yesterday 08:42 must not drop (or pollute) today's 08:42 cohort."""
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize", cohorts_kept=2)
    day_ms = 24 * 60 * MINUTE_MS
    metrics.cohort_latency(T0_MS).observe(0.1)
    metrics.cohort_latency(T0_MS - day_ms).observe(86_400.0)
    metrics.cohort_latency(T0_MS + MINUTE_MS).observe(0.1)
    metrics.cohort_latency(T0_MS).observe(0.1)
    counts = exported(registry)
    assert counts.get("08:42") == 2.0, counts
