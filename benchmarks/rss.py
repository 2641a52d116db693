"""Peak memory of a real `pipeline run` process draining a backlog (Linux: /proc/<pid>/status)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.kafka_io import watching
from benchmarks.progress import Progress

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGE = "tests.support.stages:scripted_stage"


@dataclass(frozen=True)
class Footprint:
    peak_rss_mib: float
    progress: Progress


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


def run_and_measure(
    bootstrap: str,
    topic_prefix: str,
    group: str,
    output_topic: str,
    partitions: int,
    backlog: int,
    deadline_s: float,
) -> Footprint:
    """Start the stage on a backlog, wait until it has drained it, read its peak RSS, stop it.

    Runs from an empty directory so no ./pipeline.yaml changes the defaults.
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PIPELINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "PIPELINE_KAFKA__TOPIC_PREFIX": topic_prefix,
        "PIPELINE_RUNTIME__HTTP_PORT": "0",
        "PIPELINE_OBSERVABILITY__LOG_LEVEL": "warning",
        "TEST_STAGE_GROUP": group,
    }
    command = [str(Path(sys.executable).parent / "pipeline"), "run", STAGE]
    with (
        tempfile.TemporaryDirectory(prefix="bench-rss-") as workdir,
        open(Path(workdir) / "stage.log", "w+b") as log_file,
        watching(bootstrap, output_topic, partitions) as watch,
    ):
        started = time.monotonic()
        proc = subprocess.Popen(command, cwd=workdir, env=env, stderr=log_file)
        try:
            progress = watch.wait(backlog, started, deadline_s, every_s=0.2)
            if proc.poll() is not None:
                log_file.seek(0)
                raise RuntimeError(f"the stage exited early: {log_file.read()[-2000:]!r}")
            peak = peak_rss_kib(proc.pid)
        finally:
            _stop(proc)
    return Footprint(peak / 1024, progress)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
