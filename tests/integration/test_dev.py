"""`pipeline dev --duration` as a user runs it: events get stored, no stage is left running."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "pipeline"]


def processes_with_env(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (this test's unique topic prefix)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0") and state != "Z":
            found.append(int(proc.name))
    return found


@pytest.fixture
def prefix(admin: AdminClient) -> Iterator[str]:
    """A unique topic prefix; the topics `pipeline dev` creates with it are deleted afterwards."""
    value = f"test-dev-{uuid.uuid4().hex[:12]}."
    yield value
    created = [t for t in admin.list_topics(timeout=10).topics if t.startswith(value)]
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            future.result(timeout=30)


def test_dev_stores_events_and_stops_every_stage(
    tmp_path: Path, kafka_bootstrap: str, prefix: str
) -> None:
    database = tmp_path / "events.db"
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CONFIG"}
    env |= {
        "PIPELINE_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PIPELINE_KAFKA__TOPIC_PREFIX": prefix,
        "PIPELINE_STORE__DSN": f"sqlite:///{database}",
        "PIPELINE_SYMBOLICATE__ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "PIPELINE_SYMBOLICATE__CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "120",
    }
    marker = f"PIPELINE_KAFKA__TOPIC_PREFIX={prefix}"
    try:
        result = subprocess.run(
            [
                *CLI,
                *("dev", "--duration", "25", "--rate", "50"),
                *("--stop-timeout", "20", "--status-port", "0"),
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        leftovers = processes_with_env(marker)
    assert result.returncode == 0, result.stdout + result.stderr
    assert leftovers == []
    assert "stopped cleanly" in result.stdout
    assert "status page at http://127.0.0.1:" in result.stdout
    assert {p.name for p in (tmp_path / ".pipeline" / "logs").iterdir()} >= {
        "normalize.log",
        "symbolicate.log",
        "store.log",
    }

    with sqlite3.connect(database) as db:
        (events,) = db.execute("SELECT count(*) FROM events").fetchone()
        (groups,) = db.execute("SELECT count(*) FROM groups").fetchone()
        js = [
            json.loads(row[0])
            for row in db.execute("SELECT data FROM events WHERE platform = 'javascript'")
        ]
    assert events > 0 and groups > 0
    assert f"Stored {events:,} events in {groups:,} groups" in result.stdout
    frames = [f for e in js for x in e["exceptions"] for f in x["frames"]]
    assert any(f["symbolication"] == "ok" for f in frames), "no JavaScript frame was mapped"
