"""`pipeline generate`: realistic synthetic SDK events onto the raw topic, at a rate."""

from __future__ import annotations

import random
import threading
from typing import Annotated

import typer
from rich.console import Console

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.adapters.kafka.codec import make_codec
from pipeline.adapters.kafka.topics.durations import format_duration_ms, parse_duration_ms
from pipeline.cli.common import settings_from
from pipeline.cli.interrupt import stop_on_signals
from pipeline.cli.progress import progress_bar
from pipeline.errors import UserError
from pipeline.generator import (
    RAW_TOPIC,
    EventFactory,
    EventSender,
    Mix,
    SendStats,
    generator_producer,
    send_events,
)
from pipeline.generator.report import summary_table
from pipeline.rate_limit import rate_limiter


def generate(
    ctx: typer.Context,
    count: Annotated[
        int, typer.Option("--count", "-n", min=0, help="Events to send; 0 sends until Ctrl-C.")
    ] = 1000,
    rate: Annotated[
        float,
        typer.Option("--rate", "-r", min=0, help="Records per second; 0 = as fast as possible."),
    ] = 100.0,
    projects: Annotated[
        int, typer.Option("--projects", "-p", min=1, help="Events go to project ids 1..K.")
    ] = 3,
    seed: Annotated[int | None, typer.Option(help="Seed for a reproducible mix.")] = None,
    invalid_ratio: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of payloads normalize rejects.")
    ] = 0.02,
    duplicate_ratio: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Extra records repeating an event's id.")
    ] = 0.01,
    stale_ratio: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of events with days-old timestamps.")
    ] = 0.0,
    received_ago: Annotated[
        str | None,
        typer.Option(help="Stale events were received this long ago too (e.g. 2h): a backlog."),
    ] = None,
    topic: Annotated[
        str | None,
        typer.Option(help="Broker-side topic name (default: events.raw with the topic prefix)."),
    ] = None,
    flush_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the last delivery reports.")
    ] = 30.0,
) -> None:
    """Send synthetic Python, JavaScript and Node events; exits 1 if any was not acknowledged.

    Ctrl-C stops sending, waits for the delivery reports and prints the summary.
    """
    settings = settings_from(ctx)
    mix = Mix(
        projects=projects,
        invalid_ratio=invalid_ratio,
        duplicate_ratio=duplicate_ratio,
        stale_ratio=stale_ratio,
        received_ago_ms=_duration_ms(received_ago),
    )
    target = topic or settings.kafka.topic(RAW_TOPIC)
    base = base_client_config(settings.kafka, resolve_bootstrap(settings.kafka))
    producer = generator_producer(base, target, timeout_s=10.0)
    stats = SendStats()
    sender = EventSender(producer, make_codec(settings.kafka), target, stats)
    factory = EventFactory(mix, random.Random(seed))
    console = Console(stderr=True)
    with progress_bar(console) as progress, stop_on_signals(threading.Event()) as stop:
        task = progress.add_task(f"sending to {target}", total=count or None)
        send_events(
            factory,
            sender,
            stats,
            count=count or None,
            limiter=rate_limiter(rate),
            stop=stop,
            flush_timeout_s=flush_timeout,
            on_sent=lambda: progress.update(task, completed=stats.events),
        )
    Console().print(summary_table(stats, target))
    if not stats.all_acknowledged:
        detail = f" (first error: {stats.first_error})" if stats.first_error else ""
        console.print(
            f"[bold red]{stats.failed + stats.unacknowledged} record(s) were not acknowledged"
            f"{detail}[/]"
        )
        raise typer.Exit(1)


def _duration_ms(text: str | None) -> int:
    if text is None:
        return 0
    try:
        ms = parse_duration_ms(text)
    except ValueError as exc:
        raise UserError(f"--received-ago: {exc}") from None
    if ms < 0:
        raise UserError(f"--received-ago must be a finite duration, not {format_duration_ms(ms)}")
    return ms
