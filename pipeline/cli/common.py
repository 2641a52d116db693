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


def format_duration(seconds: float) -> str:
    """Ages and durations as people read them: 45s, 3m07s, 2h05m."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
