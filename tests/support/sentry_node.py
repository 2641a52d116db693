"""The real @sentry/node SDK from npm, installed once per lockfile into ~/.cache/pipeline."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from tests.support.ci import unavailable

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sentry-node"
FILES = ("package.json", "package-lock.json", "send.js")


def sentry_node_dir(cache_root: Path | None = None) -> Path:
    """A directory with ``send.js`` and its node_modules; skips (fails with CI=true) without
    npm. Keyed by the fixture's content, so a changed lockfile installs afresh."""
    cache_root = cache_root or Path.home() / ".cache" / "pipeline"
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        unavailable("npm and node are not installed", "apt-get install -y nodejs npm")
    digest = hashlib.sha256(b"".join((FIXTURE / name).read_bytes() for name in FILES))
    target = cache_root / f"sentry-node-{digest.hexdigest()[:16]}"
    if (target / "node_modules" / "@sentry" / "node").is_dir():
        return target
    staging = target.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in FILES:
        shutil.copy(FIXTURE / name, staging / name)
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"npm ci failed: {result.stderr[-500:]}", "npm ci in " + str(FIXTURE))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # whole or not at all: an interrupted install is not reused
    return target


def send_node_exception(directory: Path, dsn: str) -> str:
    """Runs send.js: one raised Error captured and flushed; returns its event id."""
    result = subprocess.run(
        ["node", "send.js", dsn],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    event_id: str = json.loads(result.stdout.strip().splitlines()[-1])["eventId"]
    return event_id
