"""`pipeline kafka ...` run as a user runs it: the installed script, in a chosen environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PIPELINE = Path(sys.executable).parent / "pipeline"
NOT_INHERITED = ("KAFKA_BOOTSTRAP_SERVERS", "PIPELINE_KAFKA__BOOTSTRAP_SERVERS", "PIPELINE_CONFIG")
"""Variables that would make the commands adopt a cluster instead of starting a broker."""


def run_kafka_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PIPELINE), "kafka", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
