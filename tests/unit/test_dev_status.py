"""Rows of the dev table: rates and latencies over a sliding window of scrapes."""

from __future__ import annotations

import math

import pytest

from pipeline.dev.scrape import StageSample
from pipeline.dev.status import SampleWindow, stage_row

INF = math.inf


def sample(at: float, consumed: float, cohorts: dict[str, tuple[float, float]]) -> StageSample:
    """``cohorts``: cohort -> (observations <= 0.1 s, observations in total)."""
    return StageSample(
        at=at,
        consumed=consumed,
        in_flight=3,
        paused=1,
        lag=40,
        end_to_end={
            c: ((0.1, fast), (1.0, total), (INF, total)) for c, (fast, total) in cohorts.items()
        },
    )


def test_rate_and_latency_come_from_the_window_baseline() -> None:
    window = SampleWindow(window_s=5)
    window.add(sample(0, 100, {"10:00": (10, 10)}))
    window.add(sample(2, 300, {"10:00": (10, 10), "10:01": (0, 100)}))
    row = stage_row("normalize", None, True, window)
    assert row.state == "running" and row.healthy
    assert row.consumed_per_s == pytest.approx(100)
    assert (row.in_flight, row.paused, row.lag) == (3, 1, 40)
    # Only the 100 new observations count, all between 0.1 s and 1 s.
    assert row.p50_s == pytest.approx(0.55)


def test_the_window_slides() -> None:
    window = SampleWindow(window_s=5)
    for at in range(0, 20, 1):
        window.add(sample(at, at * 10.0, {}))
    assert window.baseline is not None and window.latest is not None
    assert window.latest.at - window.baseline.at == pytest.approx(5, abs=1)


def test_one_scrape_is_not_enough_for_rates() -> None:
    window = SampleWindow(window_s=5)
    window.add(sample(0, 100, {}))
    row = stage_row("store", None, True, window)
    assert row.state == "running"
    assert (row.consumed_per_s, row.p50_s, row.lag) == (None, None, 40)


def test_states_before_during_and_after() -> None:
    window = SampleWindow(window_s=5)
    assert stage_row("store", None, False, window).state == "starting"
    window.add(sample(0, 0, {}))
    silent = stage_row("store", None, False, window)
    assert (silent.state, silent.healthy) == ("not answering", False)
    dead = stage_row("store", 3, False, window)
    assert (dead.state, dead.healthy) == ("exited 3", False)
    assert stage_row("store", 0, False, window).healthy
