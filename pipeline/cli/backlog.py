"""`pipeline backlog`: the ranges live consumers sliced off and the drain has not finished."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.backlog.status import RangeStatus, open_ranges
from pipeline.cli.common import format_duration, settings_from


def backlog(
    ctx: typer.Context,
    stage: Annotated[
        str | None, typer.Option("--stage", help="Only this stage's ranges (e.g. normalize).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per range, as a list.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to read the ledger to its end.")
    ] = 30.0,
) -> None:
    """List open backlog ranges: size, drain progress, age, and messages lost to retention."""
    settings = settings_from(ctx)
    rows = open_ranges(settings, timeout, stage)
    if as_json:
        typer.echo(json.dumps([row.to_json() for row in rows], indent=2))
        return
    _print(Console(), rows)


def _print(console: Console, rows: Sequence[RangeStatus]) -> None:
    if not rows:
        console.print("No open backlog ranges: nothing is waiting for the drain.")
        return
    table = Table(title="Open backlog ranges (oldest first)", title_justify="left")
    for column in ("stage", "group", "partition", "offsets", "size", "remaining"):
        table.add_column(column, justify="right" if column in ("size", "remaining") else "left")
    for column in ("progress", "age", "idle", "expired"):
        table.add_column(column, justify="right")
    for row in rows:
        rng = row.range
        table.add_row(
            rng.stage,
            rng.group,
            f"{rng.topic}[{rng.partition}]",
            f"{rng.origin_start:,}..{rng.end:,} at {rng.start:,}",
            f"{rng.size:,}",
            f"{rng.remaining:,}",
            f"{rng.progress:.0%}",
            format_duration(row.age_s),
            format_duration(row.idle_s),
            f"[red]{row.expired:,}[/]" if row.expired else "0",
        )
    console.print(table)
    total = sum(row.range.remaining for row in rows)
    console.print(f"{len(rows)} range(s), {total:,} message(s) to drain.")
