"""The demo shop's artifacts upload and every listed frame maps to what frames.json expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.demo import demo_artifacts_dir, demo_frames, upload_demo_artifacts
from pipeline.stages.symbolicate.settings import SymbolicateSettings
from pipeline.stages.symbolicate.symbolicator import Symbolicator
from tests.fixtures.js.events import event, frame

DEMO = demo_frames()


def test_demo_files_ship_with_the_package() -> None:
    names = {p.name for p in demo_artifacts_dir().iterdir()}
    assert {"app.min.js", "app.min.js.map", "frames.json"} <= names
    assert DEMO["url"] == "https://demo.example.com/static/app.min.js"


@pytest.mark.parametrize("scenario", DEMO["scenarios"], ids=lambda s: s["name"])
def test_every_demo_frame_maps_to_its_expected_original(
    tmp_path: Path, scenario: dict[str, object]
) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    stored = upload_demo_artifacts(store, project_id=9, release="demo@1")
    assert [a.url for a in stored] == ["~/static/app.min.js", "~/static/app.min.js.map"]
    frames = scenario["frames"]
    assert isinstance(frames, list)
    result = Symbolicator(SymbolicateSettings(cache_dir=tmp_path / "c"), store=store).symbolicate(
        event(
            [frame(f["abs_path"], f["lineno"], f["colno"], f["function"]) for f in frames],
            project_id=9,
            release="demo@1",
        )
    )
    got = [
        (f["filename"], f["lineno"], f["colno"], f["function"])
        for f in result["exceptions"][0]["frames"]
    ]
    want = [
        (
            f["expected"]["source"].removeprefix("../"),
            f["expected"]["lineno"],
            f["expected"]["colno"],
            f["expected"]["function"],
        )
        for f in frames
    ]
    assert got == want
