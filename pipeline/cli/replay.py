"""`pipeline replay`: copy a range of a topic into a topic, or a DLQ back to its input topic."""

from __future__ import annotations

import sys
import threading
import time
from typing import Annotated

import typer
from rich.console import Console

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.cli.common import settings_from
from pipeline.cli.interrupt import stop_on_signals
from pipeline.cli.progress import progress_bar
from pipeline.config import KafkaSettings
from pipeline.errors import UserError
from pipeline.replay import (
    BackFromDlq,
    CopyTo,
    RangeSpec,
    ReplayOptions,
    ReplaySummary,
    Skip,
    parse_time_ms,
    plan_replay,
    run_replay,
)
from pipeline.replay.report import plan_table, resume_hints, summary_table
from pipeline.replay.routing import Route
from pipeline.replay.times import TIME_HELP

INTERRUPTED_EXIT = 130


def replay(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Topic to read, e.g. events.raw.dlq.")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to", "-t", help="Topic to write. Required unless --dlq.", show_default=False
        ),
    ] = None,
    partitions: Annotated[
        list[int] | None,
        typer.Option(
            "--partition", "-p", metavar="N", help="Only this source partition (repeat for more)."
        ),
    ] = None,
    start_offset: Annotated[
        int | None, typer.Option(min=0, help="First offset to copy (in every partition).")
    ] = None,
    end_offset: Annotated[
        int | None, typer.Option(min=0, help="Stop before this offset (exclusive).")
    ] = None,
    start_time: Annotated[
        str | None,
        typer.Option(
            "--from", "--start-time", metavar="TIME", help=f"First record time: {TIME_HELP}."
        ),
    ] = None,
    end_time: Annotated[
        str | None,
        typer.Option(
            "--until", "--end-time", metavar="TIME", help="Stop before records of this time."
        ),
    ] = None,
    dlq: Annotated[
        bool,
        typer.Option(
            "--dlq",
            help="SOURCE is a DLQ: send each record back to its dlq.origin.topic (or --to) "
            "without its dlq.* headers.",
        ),
    ] = False,
    stages: Annotated[
        list[str] | None,
        typer.Option(
            "--stage", metavar="STAGE", help="With --dlq: only records this stage dead-lettered."
        ),
    ] = None,
    error_contains: Annotated[
        str | None,
        typer.Option(help="With --dlq: only records whose error contains this (any case)."),
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", "-r", min=0, help="Records written per second; 0 = no limit.")
    ] = 0.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and count per target topic; write nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before writing.")] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each metadata request.")
    ] = 30.0,
    flush_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the last delivery reports.")
    ] = 30.0,
) -> None:
    """Copy a range of SOURCE into --to, or DLQ records back to their input (--dlq).

    Topic names are the logical names of topics.yaml: kafka.topic_prefix is added to SOURCE and
    --to (not to dlq.origin.topic headers, which already hold broker-side names). The range is
    the whole retained topic unless limited by offsets (--start-offset/--end-offset) or by time
    (--from/--until, looked up with offsets-for-times); its end is fixed when the replay starts,
    so replaying a topic into itself terminates. Keys, values and headers (received_at_ms among
    them) are kept; the broker stamps new timestamps. Reads never join a group or commit.

    Ctrl-C stops after the current record and prints what is left per partition. Exits 1 when a
    record was not acknowledged, 130 when interrupted, 2 on a mistake such as --dlq on a topic
    whose records have no dlq headers (some without them are skipped with a warning).

    Examples:

      pipeline replay events.raw --to events.raw.copy --from -2h --until -1h

      pipeline replay events.raw --to events.raw -p 0 --start-offset 1200 --end-offset 1300

      pipeline replay events.raw.dlq --dlq --stage normalize --rate 100 --dry-run
    """
    settings = settings_from(ctx)
    route = _route(settings.kafka, to, dlq, stages or [], error_contains)
    spec = _spec(start_offset, end_offset, start_time, end_time)
    config = base_client_config(settings.kafka, resolve_bootstrap(settings.kafka))
    plan = plan_replay(
        config,
        settings.kafka.topic(source),
        spec=spec,
        partitions=partitions or (),
        target=route.fixed_target,
        timeout_s=timeout,
    )
    out, err = Console(), Console(stderr=True)
    out.print(plan_table(plan, route.fixed_target or "each record's dlq.origin.topic"))
    if not dry_run and not yes:
        _confirm(plan.total)
    with (
        progress_bar(err, time_remaining=True) as progress,
        stop_on_signals(threading.Event()) as stop,
    ):
        task = progress.add_task("dry run" if dry_run else "replaying", total=plan.total)
        options = ReplayOptions(
            dry_run=dry_run,
            rate=rate or None,
            stop=stop,
            on_progress=lambda done: progress.update(task, completed=done),
            timeout_s=timeout,
            flush_timeout_s=flush_timeout,
        )
        summary = run_replay(config, plan, route, options)
    out.print(summary_table(summary))
    _report_problems(summary, err)
    if summary.failed or summary.unacknowledged:
        raise typer.Exit(1)
    if summary.interrupted:
        raise typer.Exit(INTERRUPTED_EXIT)


def _route(
    kafka: KafkaSettings,
    to: str | None,
    dlq: bool,
    stages: list[str],
    error_contains: str | None,
) -> Route:
    target = kafka.topic(to) if to else None
    if dlq:
        return BackFromDlq(target, frozenset(stages), error_contains)
    if stages or error_contains:
        raise UserError("--stage and --error-contains filter DLQ records: add --dlq")
    if target is None:
        raise UserError("give --to TARGET, or --dlq to send DLQ records back to their origin")
    return CopyTo(target)


def _spec(
    start_offset: int | None, end_offset: int | None, start: str | None, end: str | None
) -> RangeSpec:
    now_ms = time.time_ns() // 1_000_000
    return RangeSpec(
        start_offset=start_offset,
        end_offset=end_offset,
        start_time_ms=parse_time_ms(start, now_ms) if start else None,
        end_time_ms=parse_time_ms(end, now_ms) if end else None,
    )


def _report_problems(summary: ReplaySummary, err: Console) -> None:
    not_dlq = summary.skipped.get(Skip.NOT_A_DLQ_RECORD, 0)
    if not_dlq and not_dlq == summary.read:
        raise UserError(f"{summary.source} is not a DLQ: none of its records has dlq headers")
    if not_dlq:
        err.print(f"[yellow]{not_dlq:,} record(s) had no dlq headers and were skipped[/]")
    if summary.first_error:
        err.print(f"[bold red]first error: {summary.first_error}[/]", highlight=False)
    if summary.remaining:
        err.print("Not finished. To copy what is left, rerun with these range options:")
        for hint in resume_hints(summary):
            err.print(f"  {hint}", highlight=False)


def _confirm(total: int) -> None:
    if not sys.stdin.isatty():
        raise UserError("replay writes records: pass --yes to confirm (or --dry-run)")
    typer.confirm(f"Write up to {total:,} records?", abort=True)
