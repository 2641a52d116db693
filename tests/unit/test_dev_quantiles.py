"""Quantiles from histogram buckets, as PromQL's histogram_quantile computes them."""

from __future__ import annotations

import math

import pytest

from pipeline.dev.quantiles import bucket_increase, histogram_quantile, merge_buckets

INF = math.inf
BUCKETS = ((0.1, 10.0), (0.5, 60.0), (1.0, 90.0), (INF, 100.0))


def test_interpolates_inside_the_bucket_holding_the_rank() -> None:
    assert histogram_quantile(0.5, BUCKETS) == pytest.approx(0.1 + 0.4 * 40 / 50)
    assert histogram_quantile(0.05, BUCKETS) == pytest.approx(0.05)
    assert histogram_quantile(0.9, BUCKETS) == pytest.approx(1.0)


def test_a_rank_in_the_infinite_bucket_answers_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, BUCKETS) == 1.0


def test_empty_buckets_give_no_answer() -> None:
    assert histogram_quantile(0.5, ()) is None
    assert histogram_quantile(0.5, ((1.0, 0.0), (INF, 0.0))) is None


def test_empty_buckets_below_the_rank_are_skipped() -> None:
    assert histogram_quantile(0.5, ((0.1, 0.0), (0.5, 0.0), (1.0, 4.0), (INF, 4.0))) == 0.75


def test_increase_subtracts_an_earlier_scrape() -> None:
    earlier = ((0.1, 5.0), (0.5, 20.0), (1.0, 30.0), (INF, 30.0))
    assert bucket_increase(BUCKETS, earlier) == ((0.1, 5.0), (0.5, 40.0), (1.0, 60.0), (INF, 70.0))
    assert bucket_increase(BUCKETS, None) == BUCKETS


def test_a_counter_reset_counts_from_zero() -> None:
    later = ((0.1, 1.0), (0.5, 2.0), (1.0, 2.0), (INF, 2.0))
    assert bucket_increase(later, BUCKETS) == later


def test_merge_sums_series_with_the_same_bounds() -> None:
    merged = merge_buckets([BUCKETS, BUCKETS])
    assert merged == ((0.1, 20.0), (0.5, 120.0), (1.0, 180.0), (INF, 200.0))
    assert merge_buckets([]) == ()
