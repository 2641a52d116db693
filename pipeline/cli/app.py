"""Root of the `pipeline` command: one sub-command group per job."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from pipeline.cli import (
    artifacts,
    backlog,
    browse,
    cohorts,
    dev,
    generate,
    kafka,
    replay,
    run,
    status,
    topics,
)
from pipeline.cli.common import ConfigOption, init_settings
from pipeline.cli.outcomes import outcomes as outcomes_command
from pipeline.errors import UserError

app = typer.Typer(
    name="pipeline",
    help="Kafka stream-processing pipeline for error events: normalize -> symbolicate -> store.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(topics.app, name="topics")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(browse.events_app, name="events")
app.add_typer(browse.groups_app, name="groups")
app.command("run")(run.run)
app.command("dev")(dev.dev)
app.command("generate")(generate.generate)
app.command("replay")(replay.replay)
app.command("backlog")(backlog.backlog)
app.command("cohorts")(cohorts.cohorts)
app.command("status")(status.status)
app.command("outcomes")(outcomes_command)


@app.callback()
def root(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Settings come from --config (YAML) and PIPELINE_* variables (PIPELINE_KAFKA__...)."""
    init_settings(ctx, config)


def main() -> None:
    """Console-script entry: user mistakes end with one clear sentence, not a traceback."""
    try:
        app()
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
