"""Signalling a broker process safely: only a pid whose command line proves it is ours."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from pipeline.errors import UserError

log = structlog.get_logger()


def command_line(pid: int) -> list[str]:
    """The arguments of a live process; empty when it is gone or a zombie."""
    if Path("/proc/self/cmdline").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return []
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    listing = subprocess.run(
        ["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return listing.stdout.split()


def is_ours(pid: int, markers: Sequence[str]) -> bool:
    """True while ``pid`` runs with every marker (e.g. our server.properties path) in its args."""
    args = command_line(pid)
    return bool(args) and all(marker in args for marker in markers)


def wait_gone(
    pid: int,
    markers: Sequence[str],
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = 0.1,
) -> bool:
    deadline = clock() + timeout_s
    while is_ours(pid, markers):
        if clock() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def terminate(pid: int, markers: Sequence[str], grace_s: float, kill_wait_s: float = 10.0) -> bool:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL. False when ``pid`` is not ours to signal."""
    if not is_ours(pid, markers):
        return False
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_wait_s)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        if wait_gone(pid, markers, wait_s):
            log.info("kafka_broker.process_stopped", pid=pid, signal=sig.name)
            return True
        log.warning("kafka_broker.process_ignored_signal", pid=pid, signal=sig.name, wait_s=wait_s)
    raise UserError(f"process {pid} is still running after SIGKILL; stop it by hand.")
