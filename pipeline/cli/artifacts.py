"""`pipeline artifacts upload|list`: minified files and source maps for the symbolicate stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.adapters.artifacts.store import ArtifactStore, StoredArtifact
from pipeline.adapters.artifacts.upload import files_to_upload, upload_files
from pipeline.cli.common import settings_from

app = typer.Typer(
    help="Minified JavaScript files and source maps, per project and release.",
    no_args_is_help=True,
)
console = Console()

ProjectOption = Annotated[int, typer.Option("--project", "-p", min=0, help="Project id.")]
ReleaseOption = Annotated[str, typer.Option("--release", "-r", help="Release name.")]
DistOption = Annotated[
    str | None, typer.Option("--dist", "-d", help="Distribution within the release.")
]


@app.command()
def upload(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(help="Files, or directories whose .js/.mjs/.cjs/.map files to upload."),
    ],
    project: ProjectOption,
    release: ReleaseOption,
    dist: DistOption = None,
    url_prefix: Annotated[
        str,
        typer.Option(help="URL the files are served under; '~/' matches any scheme and host."),
    ] = "~/",
) -> None:
    """Store files for symbolication; frames match them by URL (or by debug id)."""
    store = ArtifactStore(settings_from(ctx).symbolicate.artifacts_dir)
    stored = upload_files(
        store,
        project_id=project,
        release=release,
        dist=dist,
        files=files_to_upload(files, url_prefix),
    )
    console.print(_table(f"Stored in {store.root}", stored))


@app.command("list")
def list_(
    ctx: typer.Context, project: ProjectOption, release: ReleaseOption, dist: DistOption = None
) -> None:
    """What a release holds."""
    store = ArtifactStore(settings_from(ctx).symbolicate.artifacts_dir)
    found = store.list_release(project, release, dist)
    if not found:
        console.print(f"No artifacts for project {project}, release {release!r}, dist {dist!r}.")
        raise typer.Exit(1)
    console.print(_table(f"Project {project}, release {release!r}", found))


def _table(title: str, artifacts: list[StoredArtifact]) -> Table:
    table = Table(title=title)
    table.add_column("URL", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    table.add_column("sha256", no_wrap=True)
    table.add_column("debug id", overflow="fold")
    table.add_column("source map", overflow="fold")
    for a in artifacts:
        table.add_row(
            a.url,
            a.kind,
            f"{a.size:,}",
            a.sha256[:12],
            a.debug_id or "-",
            a.sourcemap_url or "-",
        )
    return table
