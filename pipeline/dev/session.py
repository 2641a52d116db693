"""`pipeline dev` end to end: prepare, start the stages and the generator, watch, stop in order.

Stop order: the generator first (its last records acknowledged), then SIGTERM to the stages so
they finish and commit what is in flight, SIGKILL after a deadline. The broker keeps running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.live import Live

from pipeline.adapters.kafka.client_config import base_client_config
from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import Settings
from pipeline.dev.edge import dev_keys, dsn, edge_env, edge_url, wait_until_live
from pipeline.dev.load import LoadThread, edge_sender, kafka_sender
from pipeline.dev.monitor import Monitor, StoreReader
from pipeline.dev.page import status_page
from pipeline.dev.processes import StageProcess, start_stage, stop_stages
from pipeline.dev.stored import StoreCounts
from pipeline.dev.view import render
from pipeline.generator import RAW_TOPIC, Mix, SendStats

STAGES = ("normalize", "symbolicate", "store")
EDGE = "edge"


@dataclass(frozen=True)
class DevOptions:
    projects: int = 3
    rate: float = 200.0
    count: int | None = None
    """Events to generate; None: until stopped."""
    generate: bool = True
    seed: int | None = None
    duration_s: float | None = None
    """Stop by itself after this long; None: on Ctrl-C or SIGTERM only."""
    logs_dir: Path = Path(".pipeline/logs")
    refresh_s: float = 1.0
    stop_timeout_s: float = 30.0
    """How long the stages get after SIGTERM before SIGKILL."""
    through_edge: bool = True
    """The generator posts to the edge over HTTP; False: it produces to events.raw itself."""
    status_port: int = 8090
    """The status web page's port on 127.0.0.1 (0: any free one)."""


@dataclass
class Outcome:
    exit_codes: dict[str, int] = field(default_factory=dict)
    died: dict[str, int] = field(default_factory=dict)
    """Stages that exited before they were asked to stop."""
    load: SendStats | None = None
    load_error: str | None = None
    stored: StoreCounts | None = None
    log_paths: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        stages_ok = not self.died and all(code == 0 for code in self.exit_codes.values())
        load_ok = self.load_error is None and (self.load is None or self.load.all_acknowledged)
        return stages_ok and load_ok


def stage_env(base: Mapping[str, str], bootstrap: str, config: Path | None) -> dict[str, str]:
    """What the stage subprocesses inherit: the same cluster and settings file as `dev`."""
    env = {**base, "PIPELINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap}
    if config is not None:
        env["PIPELINE_CONFIG"] = str(config.resolve())
    return env


def run_stages(
    settings: Settings,
    options: DevOptions,
    bootstrap: str,
    env: Mapping[str, str],
    stop: threading.Event,
    console: Console,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Runs until ``stop`` is set or the duration is over; stops everything it started."""
    outcome = Outcome()
    stages: list[StageProcess] = []
    edge: StageProcess | None = None
    load: LoadThread | None = None
    reader = StoreReader(settings.store.dsn, settings.store.timeout_s)
    reader.counts()  # creates or migrates the database before the store stage starts
    try:
        for name in STAGES:
            stages.append(start_stage(name, options.logs_dir, env))
        edge = start_stage(
            EDGE, options.logs_dir, {**env, **edge_env(settings.edge, options.projects)}
        )
        outcome.log_paths = {s.name: s.log_path for s in [*stages, edge]}
        wait_until_live(
            edge_url(settings.edge), lambda: edge is not None and edge.exit_code is None
        )
        if options.generate:
            load = _load(settings, options, bootstrap)
            load.start()
        with httpx.Client(timeout=0.5) as http:
            monitor = Monitor(stages, http)
            page = status_page(settings, bootstrap, lambda: monitor.rows, options.status_port)
            with page as url:
                console.print(f"[green]✓[/] status page at [bold]{url}[/]")
                console.print(
                    f"[green]✓[/] edge: point your SDK DSN at [bold]{dsn(settings.edge)}[/]"
                )
                _watch(monitor, reader, load, options, bootstrap, stop, console, clock)
            outcome.died = dict(monitor.died)
            if edge.exit_code is not None:
                outcome.died[EDGE] = edge.exit_code
    finally:
        with console.status("Stopping: generator, then the stages..."):
            if load is not None:
                load.stop()
            # The edge first: what it accepted is on the broker before the stages stop.
            outcome.exit_codes = stop_stages([edge] if edge else [], options.stop_timeout_s)
            outcome.exit_codes.update(stop_stages(stages, options.stop_timeout_s))
    if load is not None:
        outcome.load = load.stats
        outcome.load_error = None if load.error is None else str(load.error)
    outcome.stored = reader.counts()
    reader.close()
    return outcome


def _load(settings: Settings, options: DevOptions, bootstrap: str) -> LoadThread:
    """Through the edge over HTTP (``through_edge``), else straight to events.raw."""
    kafka = settings.kafka
    if options.through_edge:
        sender = edge_sender(edge_url(settings.edge), dev_keys(settings.edge, options.projects))
    else:
        sender = kafka_sender(
            base_client_config(kafka, bootstrap), make_codec(kafka), kafka.topic(RAW_TOPIC)
        )
    return LoadThread(
        sender,
        Mix(projects=options.projects),
        rate=options.rate,
        count=options.count,
        seed=options.seed,
    )


def _watch(
    monitor: Monitor,
    reader: StoreReader,
    load: LoadThread | None,
    options: DevOptions,
    bootstrap: str,
    stop: threading.Event,
    console: Console,
    clock: Callable[[], float],
) -> None:
    started = clock()
    deadline = None if options.duration_s is None else started + options.duration_s
    with Live(console=console, auto_refresh=False) as live:
        while True:
            elapsed = clock() - started
            until = "Ctrl-C stops" if deadline is None else f"stops in {deadline - clock():.0f} s"
            title = f"pipeline dev · Kafka {bootstrap} · {elapsed:.0f} s · {until}"
            stats = load.stats if load is not None else None
            rate = monitor.load_rate(stats) if stats is not None else None
            view = render(title, monitor.stage_rows(), stats, rate, reader.counts())
            live.update(view, refresh=True)
            wait = (
                options.refresh_s
                if deadline is None
                else min(options.refresh_s, deadline - clock())
            )
            if stop.wait(max(0.0, wait)) or (deadline is not None and clock() >= deadline):
                return
