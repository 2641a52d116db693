"""`pipeline run <stage>`: one stage as a long-running consumer, or its backlog drain."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pipeline.cli.common import settings_from
from pipeline.edge.server import run_edge
from pipeline.runtime.runner import run_stage
from pipeline.stages.registry import resolve_stage

EDGE = "edge"
"""Not a consumer stage: an HTTP server with its own runner."""


def run(
    ctx: typer.Context,
    stage: Annotated[
        str,
        typer.Argument(
            help="normalize, symbolicate, store, edge (the HTTP ingest server, settings in "
            "`edge`), or module:factory for your own."
        ),
    ],
    backlog: Annotated[
        bool,
        typer.Option(
            "--backlog",
            help="Drain the ranges the live consumers sliced off (group <live group>-backlog), "
            "yielding while the live group is behind.",
        ),
    ] = False,
) -> None:
    """Run one stage until SIGTERM/Ctrl-C: in-flight work finishes, offsets are committed.

    Limits come from the `runtime` settings (PIPELINE_RUNTIME__*), backlog slicing and draining
    from `backlog` (PIPELINE_BACKLOG__*); a second signal exits at once.
    """
    settings = settings_from(ctx)
    if stage == EDGE:
        sys.exit(run_edge(settings))
    spec = resolve_stage(stage, settings)
    sys.exit(run_stage(spec, settings, backlog=backlog))
