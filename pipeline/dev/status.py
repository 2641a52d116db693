"""What the dev table shows per stage, computed from scrapes over a sliding window."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pipeline.dev.quantiles import bucket_increase, histogram_quantile, merge_buckets
from pipeline.dev.scrape import StageSample


@dataclass(frozen=True)
class StageRow:
    name: str
    state: str
    """starting, running, not answering, or exited <code>."""
    healthy: bool
    consumed_per_s: float | None = None
    in_flight: float | None = None
    paused: float | None = None
    lag: float | None = None
    p50_s: float | None = None
    p99_s: float | None = None
    """End-to-end latency (edge receive to this stage done) of what finished in the window."""
    pauses: dict[str, float] | None = None
    """Pauses raised since the stage started, by reason."""


class SampleWindow:
    """The scrapes of one stage within the last ``window_s`` seconds (plus one older, the
    baseline rates and latencies are measured against)."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._samples: deque[StageSample] = deque()

    def add(self, sample: StageSample) -> None:
        self._samples.append(sample)
        while len(self._samples) > 2 and sample.at - self._samples[1].at >= self._window_s:
            self._samples.popleft()

    @property
    def latest(self) -> StageSample | None:
        return self._samples[-1] if self._samples else None

    @property
    def baseline(self) -> StageSample | None:
        return self._samples[0] if len(self._samples) > 1 else None


def stage_row(name: str, exit_code: int | None, answered: bool, window: SampleWindow) -> StageRow:
    """``answered``: whether the latest scrape succeeded (a stage may be alive but not up yet)."""
    if exit_code is not None:
        return StageRow(name, f"exited {exit_code}", healthy=exit_code == 0)
    latest, baseline = window.latest, window.baseline
    if latest is None:
        return StageRow(name, "starting", healthy=True)
    if not answered:
        return StageRow(name, "not answering", healthy=False)
    rate = None
    p50 = p99 = None
    if baseline is not None and latest.at > baseline.at:
        rate = max(0.0, latest.consumed - baseline.consumed) / (latest.at - baseline.at)
        recent = merge_buckets(
            [
                bucket_increase(buckets, baseline.end_to_end.get(cohort))
                for cohort, buckets in latest.end_to_end.items()
            ]
        )
        p50, p99 = histogram_quantile(0.5, recent), histogram_quantile(0.99, recent)
    return StageRow(
        name,
        "running",
        healthy=True,
        consumed_per_s=rate,
        in_flight=latest.in_flight,
        paused=latest.paused,
        lag=latest.lag,
        p50_s=p50,
        p99_s=p99,
        pauses=latest.pauses,
    )
