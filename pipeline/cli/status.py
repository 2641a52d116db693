"""`pipeline status`: the status web page for a deployed pipeline, from the broker alone."""

from __future__ import annotations

import threading
from contextlib import closing
from typing import Annotated

import typer
from rich.console import Console

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.backlog.status import open_ranges
from pipeline.cli.common import settings_from
from pipeline.cli.interrupt import stop_on_signals
from pipeline.cohorts.read import read_snapshot
from pipeline.status_web.collector import StatusSources
from pipeline.status_web.progress import GroupProgress
from pipeline.status_web.server import serving


def status(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 8090,
    interval: Annotated[
        float, typer.Option(min=0.5, help="Seconds between reads of the broker.")
    ] = 2.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds a broker read may take.")] = 5.0,
) -> None:
    """Serve the status page: cohort waterfall, per-stage throughput and lag, backlog ranges.

    Throughput and lag come from the stages' consumer groups (every pod counted), cohorts from
    the summaries the stages publish, the backlog from the ledger topic; the page refreshes
    itself every 2 s. Ctrl-C or SIGTERM stops it.
    """
    settings = settings_from(ctx)
    bootstrap = resolve_bootstrap(settings.kafka)
    progress = GroupProgress(base_client_config(settings.kafka, bootstrap), settings.kafka, timeout)
    sources = StatusSources(
        stages=progress.stage_rows,
        backlog=lambda: open_ranges(settings, timeout),
        cohorts=lambda: read_snapshot(settings, timeout_s=timeout).to_json(),
        title=f"pipeline · Kafka {bootstrap}",
    )
    with closing(progress), serving(sources, host, port, interval) as url:
        Console().print(f"Status page at [bold]{url}[/] (Ctrl-C stops)")
        with stop_on_signals(threading.Event()) as stop:
            stop.wait()
