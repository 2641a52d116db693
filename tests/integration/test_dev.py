"""`pipeline dev --duration` as a user runs it: events get stored, no stage is left running."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sentry_sdk
from confluent_kafka.admin import AdminClient

from pipeline.edge.settings import DEV_PUBLIC_KEY

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "pipeline"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def send_real_exception(dsn: str, live_url: str, timeout_s: float = 60.0) -> str:
    """Waits for the dev edge to answer, then sends a raised exception with the Python SDK."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(live_url, timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the dev edge did not answer at {live_url}")
        time.sleep(0.2)

    def dev_sdk_failure() -> None:
        raise RuntimeError("sent through pipeline dev")

    sentry_sdk.init(dsn=dsn, default_integrations=False, auto_enabling_integrations=False)
    try:
        try:
            dev_sdk_failure()
        except RuntimeError as exc:
            event_id = sentry_sdk.capture_exception(exc)
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()
    assert event_id is not None
    return event_id


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
    edge_port = free_port()
    env["PIPELINE_EDGE__PORT"] = str(edge_port)
    marker = f"PIPELINE_KAFKA__TOPIC_PREFIX={prefix}"
    command = [
        *CLI,
        *("dev", "--duration", "25", "--rate", "50"),
        *("--stop-timeout", "20", "--status-port", "0"),
    ]
    try:
        with subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            dsn = f"http://{DEV_PUBLIC_KEY}@127.0.0.1:{edge_port}/1"
            event_id = send_real_exception(dsn, f"http://127.0.0.1:{edge_port}/health/live")
            stdout, stderr = process.communicate(timeout=180)
    finally:
        leftovers = processes_with_env(marker)
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"point your SDK DSN at {dsn}" in result.stdout
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
        sdk_event = db.execute("SELECT data FROM events WHERE event_id = ?", (event_id,)).fetchone()
    assert events > 0 and groups > 0
    assert sdk_event is not None, "the SDK's exception is not in the store"
    assert "dev_sdk_failure" in sdk_event[0]
    assert f"Stored {events:,} events in {groups:,} groups" in result.stdout
    frames = [f for e in js for x in e["exceptions"] for f in x["frames"]]
    assert any(f["symbolication"] == "ok" for f in frames), "no JavaScript frame was mapped"
