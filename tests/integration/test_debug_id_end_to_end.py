"""Debug ids end to end: a bundle and its map carrying ``//# debugId=`` / ``debugId`` (as
sentry-cli and the bundler plugins inject them) are uploaded with `pipeline artifacts upload`
under another release and path; an SDK-shaped envelope naming the debug id in ``debug_meta``
goes through the edge over HTTP, normalize, symbolicate and store; the stored frames are the
original ones."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from pipeline.cli.artifacts import app as artifacts_cli
from pipeline.config import Settings
from pipeline.edge.settings import EdgeSettings
from tests.fixtures.js.events import DIST, scenario_frames, scenarios
from tests.support.edge import edge_serving, stored_record
from tests.support.pipeline import pipeline_settings

pytestmark = pytest.mark.integration

PROJECT, KEY = 8, "00112233445566778899aabbccddeeff"


@pytest.fixture
def settings(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> Settings:
    edge = EdgeSettings(port=0, projects={PROJECT: [KEY]})
    return pipeline_settings(kafka_bootstrap, prefix, tmp_path, edge=edge)


@pytest.fixture
def edge_url(settings: Settings) -> Iterator[str]:
    with edge_serving(settings) as url:
        yield url


def envelope(event: dict[str, Any]) -> bytes:
    payload = json.dumps(event).encode()
    header = json.dumps({"event_id": event["event_id"]}).encode()
    item = json.dumps({"type": "event", "length": len(payload)}).encode()
    return b"\n".join([header, item, payload]) + b"\n"


def test_frames_are_mapped_by_the_debug_id_of_uploaded_artifacts(
    settings: Settings, edge_url: str, admin: AdminClient, tmp_path: Path
) -> None:
    uploads = tmp_path / "build"
    uploads.mkdir()
    for name in ("widget.min.js", "widget.min.js.map"):  # renamed: only the id can match
        (uploads / name.replace("widget", "bundle-3f9a")).write_bytes((DIST / name).read_bytes())
    upload = CliRunner().invoke(
        artifacts_cli,
        ["upload", "-p", str(PROJECT), "-r", "build-42", str(uploads)],
        obj=settings,
        env={"COLUMNS": "200"},
    )
    assert upload.exit_code == 0, upload.output

    data = scenarios("widget")
    known = scenario_frames(data, "negative")
    event_id = uuid.uuid4().hex
    event = {
        "event_id": event_id,
        "platform": "javascript",
        "release": "2.0",  # not the upload's release: the debug id alone finds the files
        "exception": {
            "values": [
                {
                    "type": "RangeError",
                    "value": "negative badge",
                    "stacktrace": {
                        "frames": [
                            {k: f[k] for k in ("abs_path", "function", "lineno", "colno")}
                            for f in known
                        ]
                    },
                }
            ]
        },
        "debug_meta": {
            "images": [
                {"type": "sourcemap", "code_file": data["url"], "debug_id": data["debug_id"]}
            ]
        },
    }
    response = httpx.post(
        f"{edge_url}/api/{PROJECT}/envelope/",
        content=envelope(event),
        headers={"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=7"},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    stored = stored_record(settings, admin, PROJECT, event_id)
    frames = stored["exceptions"][0]["frames"]
    assert [(f["symbolication"], f["function"], f["lineno"], f["colno"]) for f in frames] == [
        ("ok", f["expected"]["function"], f["expected"]["lineno"], f["expected"]["colno"])
        for f in known
    ]
    assert all(f["minified"]["abs_path"] == data["url"] for f in frames)
