"""`pipeline outcomes`: what became of the events of each project over a time range."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.adapters.kafka.codec import make_codec
from pipeline.cli.common import settings_from
from pipeline.cli.progress import progress_bar
from pipeline.errors import UserError
from pipeline.replay.times import TIME_HELP, parse_time_ms
from pipeline.reporting.read import OutcomeReader
from pipeline.reporting.tally import KINDS, OutcomeTally
from pipeline.stages.outcomes import OUTCOMES_TOPIC

HEADINGS = {
    "accepted": "accepted",
    "filtered": "filtered",
    "rate_limited": "rate limited",
    "invalid": "invalid",
    "client_discarded": "client discarded",
}


def outcomes(
    ctx: typer.Context,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            "-s",
            metavar="TIME",
            help=f"Start: a duration back from now (1h, 30m), or {TIME_HELP}.",
        ),
    ] = "1h",
    until: Annotated[
        str, typer.Option("--until", "-u", metavar="TIME", help="End (exclusive), as --since.")
    ] = "now",
    project: Annotated[
        int | None, typer.Option("--project", "-p", help="Only this project.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the broker before giving up.")
    ] = 10.0,
) -> None:
    """Count the outcomes topic per project and data category: accepted, filtered, rate
    limited, invalid and client discarded, summing quantities (a client report of 23 dropped
    events counts 23). Outcomes are counted by the time they were decided. Reads never join a
    group or commit.

    Examples:

      pipeline outcomes --since 1h

      pipeline outcomes --since 2026-12-06T00:00 --until 2026-12-06T12:00 --project 42 --json
    """
    settings = settings_from(ctx)
    now_ms = time.time_ns() // 1_000_000
    since_ms, until_ms = parse_since(since, now_ms), parse_since(until, now_ms)
    if until_ms <= since_ms:
        raise UserError(f"--until ({_iso(until_ms)}) must be after --since ({_iso(since_ms)})")
    topic = settings.kafka.topic(OUTCOMES_TOPIC)
    config = base_client_config(settings.kafka, resolve_bootstrap(settings.kafka))
    tally = OutcomeTally(since_ms, until_ms, project)
    with progress_bar(Console(stderr=True), time_remaining=True) as progress:
        task = progress.add_task(f"reading {topic}", total=None)
        reader = OutcomeReader(
            config,
            make_codec(settings.kafka),
            topic,
            timeout_s=timeout,
            on_start=lambda total: progress.update(task, total=total),
            on_progress=lambda done: progress.update(task, completed=done),
        )
        reader.read(tally)
    if as_json:
        typer.echo(json.dumps(_summary(tally, topic), indent=2))
    else:
        Console().print(_table(tally, topic))


def parse_since(text: str, now_ms: int) -> int:
    """A bare duration (``1h``) counts back from now; anything else as ``parse_time_ms``."""
    value = text.strip()
    if value[:1].isdigit():
        try:
            return parse_time_ms("-" + value, now_ms)
        except UserError:
            pass
    return parse_time_ms(value, now_ms)


def _summary(tally: OutcomeTally, topic: str) -> dict[str, Any]:
    return {
        "topic": topic,
        "since": _iso(tally.since_ms),
        "until": _iso(tally.until_ms),
        "records_read": tally.records,
        "undecodable": tally.undecodable,
        "projects": tally.rows(),
    }


def _table(tally: OutcomeTally, topic: str) -> Table:
    table = Table(title=f"Outcomes in {topic}, {_iso(tally.since_ms)} to {_iso(tally.until_ms)}")
    table.add_column("project", justify="right")
    table.add_column("category")
    for kind in KINDS:
        table.add_column(HEADINGS.get(kind, kind), justify="right")
    table.add_column("total", justify="right", style="bold")
    for row in tally.rows():
        counts = [f"{row[kind]:,}" for kind in (*KINDS, "total")]
        table.add_row(str(row["project_id"]), row["category"], *counts)
    if not tally.counts:
        table.caption = "no outcomes in this range"
    if tally.undecodable:
        table.caption = f"{tally.undecodable:,} undecodable record(s) skipped"
    return table


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")
