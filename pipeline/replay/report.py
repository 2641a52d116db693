"""The plan and the summary of a replay as rich tables, for `pipeline replay`."""

from __future__ import annotations

from rich.table import Table

from pipeline.replay.api import ReplayPlan
from pipeline.replay.summary import ReplaySummary


def plan_table(plan: ReplayPlan, destination: str) -> Table:
    table = Table(
        title=f"Replay {plan.source} -> {destination}: {plan.total:,} offsets",
        title_justify="left",
    )
    table.add_column("partition", justify="right")
    table.add_column("start offset", justify="right")
    table.add_column("end offset (excl.)", justify="right")
    table.add_column("records", justify="right")
    for r in plan.ranges:
        table.add_row(str(r.partition), f"{r.start}", f"{r.end}", f"{r.count:,}")
    return table


def summary_table(summary: ReplaySummary) -> Table:
    title = f"{'Dry run of replay' if summary.dry_run else 'Replayed'} from {summary.source}"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("read", f"{summary.read:,}")
    written = "would write" if summary.dry_run else "written"
    table.add_row(written, f"{sum(summary.by_target.values()):,}")
    for topic, count in sorted(summary.by_target.items()):
        table.add_row(f"  to {topic}", f"{count:,}")
    table.add_row("skipped", f"{sum(summary.skipped.values()):,}")
    for reason, count in sorted(summary.skipped.items()):
        table.add_row(f"  {reason}", f"{count:,}")
    for name, value in (("failed", summary.failed), ("not acknowledged", summary.unacknowledged)):
        table.add_row(name, f"[red]{value:,}[/]" if value else "0")
    table.add_row("elapsed", f"{summary.elapsed_s:.1f} s")
    table.add_row("rate", f"{summary.rate:,.1f} records/s")
    if summary.interrupted:
        table.add_row("stopped", "[yellow]interrupted before the end of the range[/]")
    return table


def resume_hints(summary: ReplaySummary) -> list[str]:
    """One line per unfinished partition: the options that continue exactly where it stopped."""
    return [
        f"partition {r.partition} ({r.count:,} offsets left): "
        f"--partition {r.partition} --start-offset {r.start} --end-offset {r.end}"
        for r in summary.remaining
    ]
