"""A small minified demo shop (``js/``) for the load generator and `pipeline dev`.

``js/frames.json`` lists the demo's error scenarios; each frame (outermost first, as events carry
them) has the minified ``abs_path``/``lineno``/``colno``/``function`` an SDK would report and,
under ``expected``, the original location symbolicate should map it to. The files are built
by ``tests/fixtures/js/build.sh``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.adapters.artifacts.store import ArtifactStore, StoredArtifact
from pipeline.adapters.artifacts.upload import upload_files

DEMO_URL_PREFIX = "~/static/"
DEMO_FILES = ("app.min.js", "app.min.js.map")


def demo_artifacts_dir() -> Path:
    return Path(__file__).resolve().parent / "js"


def demo_frames() -> dict[str, Any]:
    """frames.json: ``url``, ``debug_id`` and ``scenarios`` (name, exception, frames)."""
    data: dict[str, Any] = json.loads((demo_artifacts_dir() / "frames.json").read_text("utf-8"))
    return data


def upload_demo_artifacts(
    store: ArtifactStore, *, project_id: int, release: str, dist: str | None = None
) -> list[StoredArtifact]:
    """Stores the demo bundle and its map as ``~/static/...`` for the release (idempotent)."""
    directory = demo_artifacts_dir()
    files = [(DEMO_URL_PREFIX + name, directory / name) for name in DEMO_FILES]
    return upload_files(store, project_id=project_id, release=release, dist=dist, files=files)
