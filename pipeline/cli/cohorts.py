"""`pipeline cohorts`: every receive-time cohort of the last hour, stage by stage."""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pipeline.cli.common import format_duration, settings_from
from pipeline.cli.interrupt import stop_on_signals
from pipeline.cohorts.read import read_snapshot
from pipeline.cohorts.snapshot import CohortSnapshot, StageCell


def cohorts(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One snapshot as JSON (for scripts); implies --once.")
    ] = False,
    window: Annotated[
        float, typer.Option("--window", min=60, help="Seconds of cohorts to show (default 1h).")
    ] = 3600,
    interval: Annotated[
        float, typer.Option("--interval", min=0.5, help="Seconds between refreshes.")
    ] = 2.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the broker.")
    ] = 10.0,
) -> None:
    """Show each receive cohort's progress through the stages, and which cohort is stuck where.

    Rows are cohorts (newest first), columns stages: finished/taken per cell, stuck ones in red.
    Below the table: the age of the oldest event each stage has not processed yet.
    Reads only the broker: the stages publish their counts to the cohorts topic.
    """
    settings = settings_from(ctx)
    if as_json:
        typer.echo(json.dumps(read_snapshot(settings, window, timeout).to_json(), indent=2))
        return
    console = Console()
    if once:
        console.print(render(read_snapshot(settings, window, timeout)))
        return
    with stop_on_signals(threading.Event()) as stop, Live(console=console) as live:
        while not stop.is_set():
            live.update(render(read_snapshot(settings, window, timeout)), refresh=True)
            stop.wait(interval)


def render(snapshot: CohortSnapshot) -> Group:
    table = Table(
        title=f"Receive cohorts ({snapshot.width_s}s wide), newest first",
        title_justify="left",
    )
    table.add_column("cohort")
    for stage in snapshot.stages:
        table.add_column(stage, justify="right")
    table.add_column("stuck at")
    for cohort in snapshot.cohorts:
        expected = _expected(cohort.stages, snapshot.stages)
        cells = [
            _cell(cohort.stages[stage], expected, stuck=cohort.stuck_at == stage)
            for stage in snapshot.stages
        ]
        stuck = Text(cohort.stuck_at or "", style="bold red")
        table.add_row(time.strftime("%H:%M", time.gmtime(cohort.start_ms / 1000)), *cells, stuck)
    ages = "  ".join(
        f"{stage} {format_duration(age) if age is not None else '-'}"
        for stage, age in snapshot.oldest_unprocessed_age_s.items()
    )
    footer = Text(f"Oldest unprocessed event: {ages}" if ages else "No stage has published yet.")
    if not snapshot.cohorts:
        footer = Text("No cohorts yet: are the stages running? (they publish every few seconds)")
    return Group(table, footer)


def _expected(stages: dict[str, StageCell], order: list[str]) -> int:
    """What the first stage took: every later stage should see it all, less what was dropped."""
    return stages[order[0]].taken if order else 0


def _cell(cell: StageCell, expected: int, stuck: bool) -> Text:
    finished = sum(cell.out[:5])
    share = f" {finished / expected:.0%}" if expected else ""
    waiting = cell.in_flight + cell.pending
    text = f"{finished:,}/{finished + waiting:,}{share}" if waiting else f"{finished:,}{share}"
    return Text(text, style="bold red" if stuck else ("yellow" if waiting else "green"))
