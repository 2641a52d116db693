"""`pipeline dev`: the whole pipeline on this machine, with a live status view."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import redirect_stderr
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipeline.adapters.db.factory import sqlite_path
from pipeline.adapters.db.postgres import describe_dsn
from pipeline.cli.common import settings_from
from pipeline.cli.interrupt import stop_on_signals
from pipeline.config import Settings
from pipeline.dev.session import DevOptions, Outcome, run_stages, stage_env
from pipeline.dev.setup import BrokerInUse, apply_dev_topics, start_broker, upload_dev_artifacts
from pipeline.generator import RAW_TOPIC
from pipeline.generator.report import summary_table
from pipeline.observability.logs import configure_logging


def dev(
    ctx: typer.Context,
    rate: Annotated[
        float, typer.Option("--rate", "-r", min=0, help="Generated records/s; 0 = flat out.")
    ] = 200.0,
    count: Annotated[
        int, typer.Option("--count", "-n", min=0, help="Events to generate; 0 = until stopped.")
    ] = 0,
    projects: Annotated[int, typer.Option("--projects", "-p", min=1, help="Project ids 1..K.")] = 3,
    seed: Annotated[int | None, typer.Option(help="Seed for a reproducible event mix.")] = None,
    no_generate: Annotated[
        bool, typer.Option("--no-generate", help="Start everything but the generator.")
    ] = False,
    direct: Annotated[
        bool,
        typer.Option(
            "--direct", help="The generator produces to events.raw itself instead of via the edge."
        ),
    ] = False,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop by itself after this many seconds.")
    ] = None,
    logs_dir: Annotated[
        Path, typer.Option(file_okay=False, help="Where the stages (and dev) write their logs.")
    ] = Path(".pipeline/logs"),
    status_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="Port of the status web page on 127.0.0.1; 0 = any free one."
        ),
    ] = 8090,
    stop_timeout: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds the stages get after SIGTERM (default: grace + 10)."),
    ] = None,
) -> None:
    """Broker, topics, demo artifacts, the three stages and a load generator, with a live table
    and a status web page (cohort waterfall, rates, lag, pauses, backlog) at the printed URL.

    Ctrl-C (or SIGTERM) stops the generator, then the stages; the broker keeps running.
    Exits 1 when a stage died or exited non-zero, or an event was not acknowledged.
    """
    settings = settings_from(ctx)
    config = ctx.find_root().params.get("config")
    console = Console()
    options = DevOptions(
        projects=projects,
        rate=rate,
        count=count or None,
        generate=not no_generate,
        through_edge=not direct,
        seed=seed,
        duration_s=duration,
        logs_dir=logs_dir,
        status_port=status_port,
        stop_timeout_s=(
            stop_timeout if stop_timeout is not None else settings.runtime.shutdown_grace_s + 10
        ),
    )
    broker = start_broker(settings, console.status)
    console.print(f"[green]✓[/] Kafka at [bold]{broker.bootstrap}[/] ({broker.description})")
    with console.status("Applying topics.yaml..."):
        plan = apply_dev_topics(settings, broker.bootstrap)
    console.print(f"[green]✓[/] topics in sync ({len(plan.creates)} created)")
    uploaded = upload_dev_artifacts(settings, projects)
    console.print(
        f"[green]✓[/] demo artifacts ({uploaded} files) for projects 1..{projects} "
        f"in {settings.symbolicate.artifacts_dir}"
    )
    env = stage_env(os.environ, broker.bootstrap, config if isinstance(config, Path) else None)
    options.logs_dir.mkdir(parents=True, exist_ok=True)
    with (
        (options.logs_dir / "dev.log").open("a", encoding="utf-8") as dev_log,
        redirect_stderr(dev_log),
    ):
        # Our own log lines would tear the live table apart: they go to dev.log instead.
        configure_logging(settings.observability.log_level, "json")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per scrape otherwise
        with stop_on_signals(threading.Event()) as stop:
            outcome = run_stages(settings, options, broker.bootstrap, env, stop, console)
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    print_summary(console, outcome, settings, broker, options)
    if not outcome.ok:
        raise typer.Exit(1)


def print_summary(
    console: Console, outcome: Outcome, settings: Settings, broker: BrokerInUse, options: DevOptions
) -> None:
    console.line()
    for name, code in outcome.exit_codes.items():
        log_path = outcome.log_paths.get(name)
        if name in outcome.died:
            state = f"[bold red]died (exit {outcome.died[name]}) while running[/]"
        elif code == 0:
            state = "[green]stopped cleanly[/]"
        else:
            state = f"[bold red]exited {code}[/]"
        console.print(f"{name:<12} {state}   log: {log_path}")
    if outcome.load is not None:
        console.print(summary_table(outcome.load, settings.kafka.topic(RAW_TOPIC)))
    if outcome.load_error is not None:
        console.print(f"[bold red]the generator failed:[/] {outcome.load_error}")
    stored = outcome.stored
    where = _where(settings.store.dsn)
    if stored is None:
        console.print(f"The event database {where} did not answer.")
    else:
        console.print(f"Stored {stored.events:,} events in {stored.groups:,} groups in {where}.")
    console.print("Browse them: [bold]pipeline events list[/], [bold]pipeline groups list[/]")
    if broker.ours:
        console.print(
            f"{broker.description.capitalize()} keeps running at {broker.bootstrap}; "
            "[bold]pipeline kafka down[/] stops it."
        )
    else:
        console.print(f"Kafka at {broker.bootstrap} ({broker.description}) was left as it was.")
    console.print(f"Logs: {options.logs_dir}/")


def _where(dsn: str) -> str:
    if dsn.lower().startswith("sqlite:"):
        return sqlite_path(dsn)
    return describe_dsn(dsn)
