"""Stopping stage subprocesses: SIGTERM first, SIGKILL after the deadline; dead ones reported."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.dev.monitor import Monitor
from pipeline.dev.processes import StageProcess, free_port, stage_command, stop_stages

OBEYS = "import time\nprint('ready', flush=True)\ntime.sleep(60)"
IGNORES = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\ntime.sleep(60)"
)
EXITS = "import sys\nsys.exit(3)"


@pytest.fixture
def spawn() -> Iterator[list[StageProcess]]:
    started: list[StageProcess] = []
    yield started
    for stage in started:
        stage.process.kill()
        stage.process.wait()


def start(started: list[StageProcess], name: str, code: str, tmp_path: Path) -> StageProcess:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    if code != EXITS:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    stage = StageProcess(name, free_port(), tmp_path / f"{name}.log", process)
    started.append(stage)
    return stage


def test_stages_that_obey_sigterm_stop_within_the_grace(
    spawn: list[StageProcess], tmp_path: Path
) -> None:
    stages = [start(spawn, n, OBEYS, tmp_path) for n in ("normalize", "store")]
    began = time.monotonic()
    codes = stop_stages(stages, grace_s=30)
    assert time.monotonic() - began < 5
    assert codes == {"normalize": -15, "store": -15}


def test_a_stage_ignoring_sigterm_is_killed_at_the_deadline(
    spawn: list[StageProcess], tmp_path: Path
) -> None:
    stuck = start(spawn, "symbolicate", IGNORES, tmp_path)
    began = time.monotonic()
    codes = stop_stages([stuck], grace_s=0.3)
    assert 0.3 <= time.monotonic() - began < 5
    assert codes == {"symbolicate": -9}


def test_the_monitor_reports_a_dead_stage_and_a_starting_one(
    spawn: list[StageProcess], tmp_path: Path
) -> None:
    dead = start(spawn, "normalize", EXITS, tmp_path)
    dead.process.wait()
    alive = start(spawn, "store", OBEYS, tmp_path)
    with httpx.Client(timeout=0.2) as http:
        monitor = Monitor([dead, alive], http)
        rows = monitor.stage_rows()
    assert [(r.name, r.state, r.healthy) for r in rows] == [
        ("normalize", "exited 3", False),
        ("store", "starting", True),
    ]
    assert monitor.died == {"normalize": 3}


def test_stages_run_the_pipeline_cli_with_this_interpreter() -> None:
    command = stage_command("store")
    assert command[0] == sys.executable
    assert command[-2:] == ["run", "store"]
