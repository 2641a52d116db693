"""`pipeline replay` argument mistakes end as one sentence before any broker is contacted."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli.replay import replay
from pipeline.config import Settings
from pipeline.errors import UserError

app = typer.Typer()
app.command("replay")(replay)


@app.callback()
def root() -> None:
    """A stand-in for the root app, so `replay` is a sub-command as in `pipeline replay`."""


def invoke(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["replay", *args], obj=Settings(), env={"COLUMNS": "200"})
    return result.exit_code, result.output, result.exception


def test_help_explains_with_examples() -> None:
    code, output, _ = invoke("--help")
    assert code == 0
    assert "pipeline replay events.raw.dlq --dlq" in output
    assert "topic_prefix" in output
    assert "--from" in output and "-2h" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events.raw"], "give --to TARGET, or --dlq"),
        (["events.raw", "--to", "x", "--stage", "normalize"], "add --dlq"),
        (["events.raw.dlq", "--dlq", "--from", "last tuesday"], "cannot read the time"),
        # "-2h" is read as a value, not as an option
        (["events.raw", "--to", "x", "--from", "-1h", "--until", "-2h"], "end time is before"),
        (["events.raw", "--to", "x", "--start-offset", "9", "--end-offset", "3"], "before the"),
    ],
)
def test_argument_mistakes_are_user_errors(args: list[str], message: str) -> None:
    code, _, error = invoke(*args)
    assert isinstance(error, UserError), error
    assert message in str(error)
    assert code != 0
