"""The live status view of `pipeline dev`: one row per stage, then the generator and the store."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pipeline.dev.status import StageRow
from pipeline.dev.stored import StoreCounts
from pipeline.generator import SendStats

_STATE_STYLES = {"running": "green", "starting": "yellow"}


def render(
    title: str,
    rows: Sequence[StageRow],
    load: SendStats | None,
    load_rate: float | None,
    stored: StoreCounts | None,
) -> RenderableType:
    table = Table(
        title=title,
        title_justify="left",
        caption="msg/s: consumed per second; p50/p99: edge receive to this stage done",
        caption_justify="left",
    )
    table.add_column("stage", style="bold", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for name in ("msg/s", "in flight", "paused", "lag", "p50", "p99"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        style = _STATE_STYLES.get(row.state, "bold red")
        table.add_row(
            row.name,
            Text(row.state, style=style),
            _number(row.consumed_per_s, ".1f"),
            _number(row.in_flight, ",.0f"),
            _number(row.paused, ",.0f"),
            _number(row.lag, ",.0f"),
            format_seconds(row.p50_s),
            format_seconds(row.p99_s),
        )
    return Group(table, generator_line(load, load_rate), store_line(stored))


def generator_line(load: SendStats | None, rate: float | None = None) -> Text:
    if load is None:
        return Text("generator  off (--no-generate)", style="dim")
    line = Text("generator  ")
    if rate is not None:
        line.append(f"{rate:,.0f} records/s, ")
    line.append(f"{load.events:,} events ({load.invalid:,} invalid, ")
    line.append(f"{load.duplicates:,} duplicates), {load.acknowledged:,} acknowledged")
    if load.failed:
        line.append(f", {load.failed:,} failed", style="bold red")
    return line


def store_line(stored: StoreCounts | None) -> Text:
    if stored is None:
        return Text("store      database not answering", style="yellow")
    return Text(f"store      {stored.events:,} events in {stored.groups:,} groups")


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s"


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
