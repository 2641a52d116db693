"""`pipeline topics plan|apply`: make the cluster's topics match topics.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.adapters.kafka.topics.durations import format_duration_ms
from pipeline.adapters.kafka.topics.plan import Plan, PlanRefusedError
from pipeline.adapters.kafka.topics.spec import TopicSpec, load_topics
from pipeline.adapters.kafka.topics.sync import apply_topics, current_plan
from pipeline.cli.common import settings_from
from pipeline.config import Settings

app = typer.Typer(
    help="Diff topics.yaml against the cluster, and create or alter topics to match it.",
    no_args_is_help=True,
)

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="Topics file to use instead of kafka.topics_file (the repository's topics.yaml).",
        dir_okay=False,
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each Kafka request.")
]


@app.command("plan")
def plan_command(
    ctx: typer.Context, file: FileOption = None, timeout: TimeoutOption = 30.0
) -> None:
    """Show what `apply` would change; exits non-zero when part of it cannot be applied."""
    settings = settings_from(ctx)
    specs = _specs(settings, file)
    with _admin(settings) as admin:
        plan = current_plan(admin, specs, settings.kafka.topic, timeout_s=timeout)
    _print(plan, title="Plan", empty="No changes: the cluster matches the topics file.")
    if plan.refusals:
        raise PlanRefusedError(
            f"{len(plan.refusals)} change(s) cannot be applied (marked 'refused' above)"
        )


@app.command("apply")
def apply_command(
    ctx: typer.Context, file: FileOption = None, timeout: TimeoutOption = 30.0
) -> None:
    """Create missing topics, set declared configs and add partitions; never deletes."""
    settings = settings_from(ctx)
    specs = _specs(settings, file)
    with _admin(settings) as admin:
        plan = apply_topics(admin, specs, settings.kafka.topic, timeout_s=timeout)
    _print(plan, title="Applied", empty="No changes: the cluster already matches the topics file.")


def _specs(settings: Settings, file: Path | None) -> tuple[TopicSpec, ...]:
    path = file or settings.kafka.topics_file
    return load_topics(path, drain_horizon_s=settings.backlog.drain_horizon_s)


def _admin(settings: Settings) -> AdminClient:
    bootstrap = resolve_bootstrap(settings.kafka)
    return AdminClient(base_client_config(settings.kafka, bootstrap))


def _print(plan: Plan, *, title: str, empty: str) -> None:
    console = Console()
    if plan.in_sync:
        console.print(empty)
        return
    table = Table(title=title, title_justify="left")
    table.add_column("topic", style="bold", overflow="fold")
    table.add_column("change")
    table.add_column("details", overflow="fold")
    for create in plan.creates:
        details = [f"partitions {create.partitions}, replication {create.replication_factor}"]
        details += [
            f"{key} = {_value(key, value)}" for key, value in sorted(create.configs.items())
        ]
        table.add_row(create.topic, "[green]create[/]", "\n".join(details))
    for alter in plan.alters:
        changes = [
            f"{c.key}: {_value(c.key, c.old)} -> {_value(c.key, c.new)}" for c in alter.changes
        ]
        table.add_row(alter.topic, "[yellow]alter config[/]", "\n".join(changes))
    for add in plan.partition_adds:
        table.add_row(add.topic, "[yellow]add partitions[/]", f"{add.current} -> {add.target}")
    for refusal in plan.refusals:
        table.add_row(refusal.topic, "[red]refused[/]", refusal.reason)
    console.print(table)


def _value(key: str, value: str | None) -> str:
    """Milliseconds also shown as a duration, so a plan reads ``86400000 (1d)``."""
    if value is None:
        return "(unset)"
    if key.endswith(".ms") and value.lstrip("-").isdigit():
        return f"{value} ({format_duration_ms(int(value))})"
    return value
