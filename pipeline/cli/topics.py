"""`pipeline topics` (placeholder, being written)."""

import typer

app = typer.Typer(help="topics", no_args_is_help=True)
