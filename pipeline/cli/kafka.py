"""`pipeline kafka up|down|status|image`: the local development broker."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.adapters.kafka.broker import dev
from pipeline.adapters.kafka.broker.choice import Probes, libs_dir
from pipeline.adapters.kafka.broker.docker import broker_image
from pipeline.adapters.kafka.broker.existing import UseExisting
from pipeline.adapters.kafka.broker.image import DEFAULT_BASE_IMAGE, build_kafka_image
from pipeline.adapters.kafka.broker.jars import download_libs
from pipeline.cli.common import settings_from
from pipeline.errors import UserError

app = typer.Typer(help="Local development broker: up, down, status, image.", no_args_is_help=True)
console = Console()


@app.command()
def up(
    ctx: typer.Context,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Broker port on 127.0.0.1 (default: a free port)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the broker to answer.")
    ] = 90.0,
) -> None:
    """Start the dev broker: KAFKA_BOOTSTRAP_SERVERS, else Docker, else a local KRaft JVM."""
    kafka = settings_from(ctx).kafka
    outcome = dev.up(
        Probes(os.environ),
        kafka.bootstrap_servers,
        port=port,
        status=console.status,
        start_timeout_s=timeout,
    )
    match outcome:
        case UseExisting(bootstrap=bootstrap, origin=origin):
            console.print(f"Using the cluster at [bold]{bootstrap}[/] ({origin}); nothing started.")
            return
        case dev.AlreadyRunning(broker=broker):
            console.print(
                f"The dev broker ({broker.kind}) is already running at [bold]{broker.bootstrap}[/]."
            )
        case dev.Started(broker=broker):
            console.print(f"Kafka broker ({broker.kind}) running at [bold]{broker.bootstrap}[/].")
    console.print(
        f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}", highlight=False, soft_wrap=True
    )


@app.command()
def down(
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds to wait after SIGTERM before SIGKILL.")
    ] = 30.0,
) -> None:
    """Stop the dev broker started by `pipeline kafka up` (its data is kept)."""
    with console.status("Stopping the Kafka broker..."):
        stopped = dev.down(Probes(os.environ), grace_s=grace)
    if stopped is None:
        console.print("No dev broker is running.")
    else:
        console.print(f"Stopped the dev broker ({stopped.kind}) at {stopped.bootstrap}.")


@app.command()
def status(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for an answer.")] = 5.0,
) -> None:
    """Whether the broker clients would use answers (exit 0) or not (exit 1)."""
    health = dev.health(Probes(os.environ), settings_from(ctx).kafka, timeout_s=timeout)
    if health is None:
        console.print("No dev broker is running; start one with `pipeline kafka up`.")
        raise typer.Exit(1)
    table = Table(show_header=False, box=None)
    table.add_row("bootstrap", health.bootstrap)
    table.add_row("kind", health.kind)
    if health.pid is not None:
        table.add_row("pid", str(health.pid))
    table.add_row("brokers", str(health.brokers))
    table.add_row("answers", "[green]yes[/]" if health.brokers else "[red]no[/]")
    console.print(table)
    if not health.brokers:
        raise typer.Exit(1)


@app.command()
def image(
    base: Annotated[
        str, typer.Option(help="Image to build on (a Debian with apt; no registry: a local one).")
    ] = DEFAULT_BASE_IMAGE,
    tag: Annotated[
        str | None,
        typer.Option(
            help="Tag to build (default: $PIPELINE_KAFKA_IMAGE, else pipeline-kafka:VER)."
        ),
    ] = None,
) -> None:
    """Build the broker image `pipeline kafka up` runs in Docker, from the same Kafka jars."""
    probes = Probes(os.environ)
    libs = libs_dir(probes)
    if not libs.is_dir():
        mvn = probes.which("mvn")
        if mvn is None:
            raise UserError(f"the Kafka jars are not in {libs} and Maven (mvn) is not on PATH.")
        with console.status(f"Downloading the Kafka jars with Maven into {libs}..."):
            download_libs(mvn, probes.pom, libs)
    target = tag or broker_image(os.environ)
    with console.status(f"Building {target} on {base}..."):
        build_kafka_image(libs, target, base)
    console.print(f"Built [bold]{target}[/]; `pipeline kafka up` now runs the broker in Docker.")
