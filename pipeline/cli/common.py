"""What every command shares: the settings file option and loading settings once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.config import Settings, load_settings
from pipeline.observability.logs import configure_logging

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Settings file (YAML). Defaults to $PIPELINE_CONFIG, then ./pipeline.yaml if present.",
        dir_okay=False,
    ),
]


def settings_from(ctx: typer.Context) -> Settings:
    """The settings loaded by the root callback (from --config and PIPELINE_* variables)."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):
        settings = load_settings()
        ctx.find_root().obj = settings
    return settings


def init_settings(ctx: typer.Context, config: Path | None) -> Settings:
    settings = load_settings(config)
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    ctx.obj = settings
    return settings
