"""The end-of-run summary of a generator run, shared by `pipeline generate` and `pipeline dev`."""

from __future__ import annotations

from rich.table import Table

from pipeline.generator.send import SendStats


def summary_table(stats: SendStats, topic: str) -> Table:
    table = Table(title=f"Sent to {topic}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("events", stats.events),
        ("  invalid", stats.invalid),
        ("  stale", stats.stale),
        ("duplicate records", stats.duplicates),
        ("records produced", stats.records),
        ("acknowledged", stats.acknowledged),
        ("delivery failures", stats.failed),
        ("never acknowledged", stats.unacknowledged),
    ]
    for name, value in rows:
        style = "red" if value and name in ("delivery failures", "never acknowledged") else ""
        table.add_row(name, f"[{style}]{value:,}[/]" if style else f"{value:,}")
    table.add_row("rate achieved", f"{stats.rate:,.1f} records/s")
    table.add_row("elapsed", f"{stats.elapsed_s:.1f} s")
    if stats.stopped_early:
        table.add_row("stopped", "[yellow]interrupted before --count[/]")
    return table
