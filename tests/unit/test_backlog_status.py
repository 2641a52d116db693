"""What `pipeline backlog` shows for a range: progress, age, and messages lost to retention."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from pipeline.backlog.ranges import BacklogRange
from pipeline.backlog.status import summarize
from pipeline.cli.backlog import _print

RANGE = BacklogRange(
    stage="normalize",
    group="pipeline.normalize",
    topic="events.raw",
    partition=0,
    origin_start=0,
    start=4000,
    end=10_000,
    created_at_ms=1_000_000,
    updated_at_ms=1_090_000,
    expired=1000,
)


def test_status_adds_retention_losses_the_drain_has_not_reached_yet() -> None:
    (row,) = summarize([RANGE], {("events.raw", 0): 4500}, now_ms=1_100_000)
    assert row.expired == 1500
    assert (row.age_s, row.idle_s) == (100.0, 10.0)
    as_json = row.to_json()
    assert as_json["size"] == 10_000 and as_json["remaining"] == 6000
    assert as_json["progress"] == 0.4 and as_json["expired"] == 1500


def test_without_a_low_watermark_the_recorded_expiry_is_shown() -> None:
    (row,) = summarize([RANGE], {}, now_ms=1_100_000)
    assert row.expired == 1000 and row.low_watermark is None


def test_rows_are_oldest_first_and_the_table_names_each_range() -> None:
    older = replace(RANGE, partition=3, created_at_ms=500_000, expired=0)
    rows = summarize([RANGE, older], {}, now_ms=1_100_000)
    assert [r.range.partition for r in rows] == [3, 0]
    console = Console(record=True, width=200)
    _print(console, rows)
    text = console.export_text()
    assert "events.raw[3]" in text and "events.raw[0]" in text
    assert "2 range(s), 12,000 message(s) to drain." in text


def test_an_empty_ledger_says_so() -> None:
    console = Console(record=True, width=200)
    _print(console, [])
    assert "No open backlog ranges" in console.export_text()
