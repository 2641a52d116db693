"""`pipeline kafka` (placeholder, being written)."""

import typer

app = typer.Typer(help="kafka", no_args_is_help=True)
