"""`pipeline artifacts upload|list` on the sub-app (the root registers it as `artifacts`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.cli.artifacts import app
from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.stages.symbolicate.settings import SymbolicateSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "js" / "dist"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(symbolicate=SymbolicateSettings(artifacts_dir=tmp_path / "store"))


def run(settings: Settings, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, list(args), obj=settings, env={"COLUMNS": "200"})
    return result.exit_code, result.output, result.exception


def test_upload_stores_files_and_prints_a_table(settings: Settings) -> None:
    files = [str(FIXTURES / "app.min.js"), str(FIXTURES / "app.min.js.map")]
    code, output, _ = run(
        settings,
        "upload",
        "--project",
        "3",
        "--release",
        "2.0",
        "--dist",
        "web",
        *files,
        "--url-prefix",
        "~/static",
    )
    assert code == 0, output
    assert "~/static/app.min.js.map" in output
    assert "minified_source" in output
    assert "app.min.js.map" in output.split("~/static/app.min.js ")[1]  # its sourceMappingURL
    store = ArtifactStore(settings.symbolicate.artifacts_dir)
    found = store.find_by_url(3, "2.0", "web", "https://cdn.example.com/static/app.min.js")
    assert found is not None
    assert store.read(found) == (FIXTURES / "app.min.js").read_bytes()


def test_a_directory_uploads_its_javascript_and_maps_by_relative_path(
    settings: Settings, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    (build / "js").mkdir(parents=True)
    shutil.copy(FIXTURES / "widget.min.js", build / "js")
    shutil.copy(FIXTURES / "widget.min.js.map", build / "js")
    (build / "index.html").write_text("<html></html>")
    code, output, _ = run(settings, "upload", "-p", "1", "-r", "r", str(build))
    assert code == 0, output
    code, output, _ = run(settings, "list", "-p", "1", "-r", "r")
    assert code == 0
    assert "~/js/widget.min.js.map" in output
    assert "index.html" not in output


def test_missing_file_is_a_user_error_and_nothing_is_stored(
    settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.js"
    code, _, exc = run(
        settings, "upload", "-p", "1", "-r", "r", str(FIXTURES / "app.min.js"), str(missing)
    )
    assert code != 0
    assert isinstance(exc, UserError)
    assert str(exc) == f"{missing} does not exist"
    assert not settings.symbolicate.artifacts_dir.exists()


def test_a_map_that_is_not_a_map_is_a_user_error(settings: Settings, tmp_path: Path) -> None:
    bogus = tmp_path / "app.min.js.map"
    bogus.write_text("<!doctype html><title>404</title>")
    code, _, exc = run(settings, "upload", "-p", "1", "-r", "r", str(bogus))
    assert code != 0
    assert isinstance(exc, UserError)
    assert "is not a source map" in str(exc)


def test_list_of_an_unknown_release_exits_1(settings: Settings) -> None:
    code, output, _ = run(settings, "list", "-p", "1", "-r", "none")
    assert code == 1
    assert "No artifacts" in output
