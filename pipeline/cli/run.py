"""`pipeline run <stage>`: one stage as a long-running consumer."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pipeline.cli.common import settings_from
from pipeline.runtime.runner import run_stage
from pipeline.stages.registry import resolve_stage


def run(
    ctx: typer.Context,
    stage: Annotated[
        str, typer.Argument(help="normalize, symbolicate, store, or module:factory for your own.")
    ],
) -> None:
    """Run one stage until SIGTERM/Ctrl-C: in-flight work finishes, offsets are committed.

    Limits come from the `runtime` settings (PIPELINE_RUNTIME__*); a second signal exits at once.
    """
    settings = settings_from(ctx)
    spec = resolve_stage(stage, settings)
    sys.exit(run_stage(spec, settings))
