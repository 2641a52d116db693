"""Reading a stage's /metrics: the numbers the dev status table shows, from the text format."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pipeline.dev.quantiles import Buckets

CONSUMED = "pipeline_consumed_messages"
IN_FLIGHT = "pipeline_in_flight_messages"
PAUSED = "pipeline_paused_partitions"
PAUSES = "pipeline_pauses"
LAG = "pipeline_consumer_lag_messages"
PROCESSING = "pipeline_processing_seconds"
END_TO_END = "pipeline_end_to_end_seconds"


@dataclass(frozen=True)
class StageSample:
    """One scrape; counters and gauges summed over partitions, topics and label values."""

    at: float
    """Monotonic time of the scrape."""
    consumed: float = 0.0
    in_flight: float = 0.0
    paused: float = 0.0
    lag: float = 0.0
    processing: Buckets = ()
    end_to_end: dict[str, Buckets] = field(default_factory=dict)
    """By receive cohort, so cohorts that come and go do not look like counter resets."""
    pauses: dict[str, float] = field(default_factory=dict)
    """Pauses raised since the stage started, by reason."""


def parse_metrics(text: str, at: float) -> StageSample:
    sums: dict[str, float] = defaultdict(float)
    histograms: dict[str, dict[str, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    pauses: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (CONSUMED + "_total", IN_FLIGHT, PAUSED, LAG):
                sums[family.name] += sample.value
            elif sample.name == PAUSES + "_total":
                pauses[sample.labels.get("reason", "")] += sample.value
            elif sample.name in (PROCESSING + "_bucket", END_TO_END + "_bucket"):
                series = sample.labels.get("cohort", "")
                le = float(sample.labels["le"])
                histograms[family.name][series][le] = sample.value
    return StageSample(
        at=at,
        consumed=sums[CONSUMED],
        in_flight=sums[IN_FLIGHT],
        paused=sums[PAUSED],
        lag=sums[LAG],
        processing=_buckets(histograms[PROCESSING].get("", {})),
        end_to_end={c: _buckets(b) for c, b in histograms[END_TO_END].items()},
        pauses=dict(pauses),
    )


def scrape(client: httpx.Client, port: int, at: float) -> StageSample | None:
    """None while the stage does not answer (starting, stopping, or hung)."""
    try:
        response = client.get(f"http://127.0.0.1:{port}/metrics")
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse_metrics(response.text, at)


def _buckets(by_bound: dict[float, float]) -> Buckets:
    if not by_bound or not math.isinf(max(by_bound)):
        return ()
    return tuple(sorted(by_bound.items()))
