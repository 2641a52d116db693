"""The stages as `pipeline run <stage>` subprocesses: started with their own port and log file,
stopped with SIGTERM, and SIGKILL after a deadline."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger()

# The CLI's own entry point, run by this interpreter: no dependency on PATH or an installed script.


@dataclass
class StageProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()


def free_port() -> int:
    """A port nothing listens on right now (the stage binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def stage_command(stage: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", stage]


def start_stage(stage: str, logs_dir: Path, env: Mapping[str, str]) -> StageProcess:
    """Starts ``pipeline run <stage>`` in its own session, so a Ctrl-C on the terminal reaches
    only `pipeline dev`, which then stops the stages in order."""
    port = free_port()
    logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = logs_dir / f"{stage}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            stage_command(stage),
            env={**env, "PIPELINE_RUNTIME__HTTP_PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    log.debug("dev.stage_started", stage=stage, pid=process.pid, port=port)
    return StageProcess(stage, port, log_path, process)


def stop_stages(
    stages: Sequence[StageProcess],
    grace_s: float,
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = 0.1,
) -> dict[str, int]:
    """SIGTERM every running stage, wait up to ``grace_s`` for all, SIGKILL the rest.

    Returns each stage's exit code. An interrupt while waiting kills what is left, then re-raises.
    """
    for stage in stages:
        if stage.exit_code is None:
            stage.process.send_signal(signal.SIGTERM)
    deadline = clock() + grace_s
    try:
        while any(s.exit_code is None for s in stages) and clock() < deadline:
            time.sleep(poll_s)
    finally:
        for stage in stages:
            if stage.exit_code is None:
                log.warning("dev.stage_killed", stage=stage.name, pid=stage.pid, grace_s=grace_s)
                stage.process.kill()
                stage.process.wait()
    return {s.name: s.process.wait() for s in stages}
