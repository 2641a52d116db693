"""Parsing a stage's /metrics text: what the runtime's StageMetrics really exports."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, generate_latest

from pipeline.dev.quantiles import histogram_quantile
from pipeline.dev.scrape import parse_metrics
from pipeline.observability.metrics import StageMetrics


def exported() -> str:
    registry = CollectorRegistry()
    metrics = StageMetrics(registry, "normalize", cohort_width_s=60)
    metrics.consumed.labels("normalize", "0").inc(30)
    metrics.consumed.labels("normalize", "1").inc(12)
    metrics.in_flight.labels("normalize").set(7)
    metrics.paused_partitions.labels("normalize").set(1)
    metrics.pauses.labels("normalize", "window_full").inc(3)
    metrics.pauses.labels("normalize", "downstream_lag").inc()
    metrics.lag.labels("normalize", "events.raw", "0").set(100)
    metrics.lag.labels("normalize", "events.raw", "1").set(23)
    for value in (0.02, 0.02, 0.2):
        metrics.processing_seconds.labels("normalize").observe(value)
    metrics.cohort_latency(0).observe(0.3)
    metrics.cohort_latency(60_000).observe(3.0)
    return generate_latest(registry).decode()


def test_counters_and_gauges_are_summed_over_labels() -> None:
    sample = parse_metrics(exported(), at=5.0)
    assert sample.at == 5.0
    assert (sample.consumed, sample.in_flight, sample.paused, sample.lag) == (42, 7, 1, 123)
    assert sample.pauses == {"window_full": 3, "downstream_lag": 1}


def test_histograms_keep_their_buckets_per_cohort() -> None:
    sample = parse_metrics(exported(), at=0.0)
    assert sorted(sample.end_to_end) == ["1970-01-01T00:00Z", "1970-01-01T00:01Z"]
    assert sample.end_to_end["1970-01-01T00:00Z"][-1] == (math.inf, 1.0)
    assert histogram_quantile(0.5, sample.processing) is not None
    assert sample.processing[-1] == (math.inf, 3.0)


def test_a_stage_without_samples_reads_as_zeros() -> None:
    sample = parse_metrics("", at=1.0)
    assert (sample.consumed, sample.lag, sample.processing, sample.end_to_end) == (0, 0, (), {})
