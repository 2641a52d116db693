"""The live table renders every state a stage can be in."""

from __future__ import annotations

from rich.console import Console

from pipeline.dev.status import StageRow
from pipeline.dev.stored import StoreCounts
from pipeline.dev.view import format_seconds, render
from pipeline.generator import SendStats


def text(*args: object) -> str:
    console = Console(record=True, width=120)
    console.print(render(*args))  # type: ignore[arg-type]
    return console.export_text()


def test_rows_generator_and_store_lines() -> None:
    rows = [
        StageRow("normalize", "running", True, 201.25, 3, 0, 12, 0.012, 0.25),
        StageRow("symbolicate", "starting", True),
        StageRow("store", "exited 1", False),
    ]
    load = SendStats(events=1200, invalid=30, duplicates=4, records=1204, acknowledged=1200)
    out = text("pipeline dev", rows, load, 199.6, StoreCounts(events=1100, groups=42))
    assert "normalize" in out and "201.2" in out and "12 ms" in out and "250 ms" in out
    assert "starting" in out and "exited 1" in out
    assert "200 records/s" in out and "1,200 events (30 invalid, 4 duplicates)" in out
    assert "1,100 events in 42 groups" in out


def test_without_generator_or_database() -> None:
    out = text("pipeline dev", [], None, None, None)
    assert "--no-generate" in out and "not answering" in out


def test_seconds_read_as_milliseconds_below_one() -> None:
    assert [format_seconds(s) for s in (None, 0.0042, 2.5)] == ["-", "4 ms", "2.5 s"]
