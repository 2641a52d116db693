"""Known frames of real esbuild bundles (tests/fixtures/js) mapped through the artifact store."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.stages.symbolicate.names import source_function_name
from pipeline.stages.symbolicate.settings import SymbolicateSettings
from pipeline.stages.symbolicate.symbolicator import Symbolicator
from tests.fixtures.js.events import (
    DIST,
    event,
    frame,
    scenario_event,
    scenario_frames,
    scenarios,
    upload,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = fastavro.parse_schema(
    json.loads((ROOT / "schemas" / "processed_event" / "v1.avsc").read_text())
)


@pytest.fixture
def settings(tmp_path: Path) -> SymbolicateSettings:
    return SymbolicateSettings(artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache")


@pytest.fixture
def store(settings: SymbolicateSettings) -> ArtifactStore:
    return ArtifactStore(settings.artifacts_dir)


@pytest.mark.parametrize(
    ("bundle", "name"),
    [
        ("app", "split"),
        ("app", "quantity"),
        ("app", "share"),
        # esbuild's class alias and native private methods (target es2022).
        ("classes", "allocate"),
        ("classes", "amount"),
    ],
)
def test_known_frames_map_to_their_original_file_line_column_and_function(
    settings: SymbolicateSettings, store: ArtifactStore, bundle: str, name: str
) -> None:
    upload(store, f"{bundle}.min.js", f"{bundle}.min.js.map")
    data = scenarios(bundle)
    result = Symbolicator(settings, store=store).symbolicate(scenario_event(data, name))

    frames = result["exceptions"][0]["frames"]
    for got, known in zip(frames, scenario_frames(data, name), strict=True):
        want = known["expected"]
        assert got["symbolication"] == "ok"
        assert got["filename"] == want["source"].removeprefix("../")
        assert got["abs_path"] == "https://example.com/" + want["source"].removeprefix("../")
        assert (got["lineno"], got["colno"], got["function"]) == (
            want["lineno"],
            want["colno"],
            want["function"],
        )
        assert got["context_line"] == want["context_line"]
        assert got["minified"] == {
            "abs_path": known["abs_path"],
            "function": known["function"],
            "lineno": known["lineno"],
            "colno": known["colno"],
        }
    assert result["errors"] == []
    fastavro.validation.validate(result, SCHEMA, raise_errors=True)


def test_context_lines_come_from_the_maps_sources_content(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    upload(store, "app.min.js", "app.min.js.map")
    result = Symbolicator(
        settings.model_copy(update={"context_lines": 2}), store=store
    ).symbolicate(scenario_event(scenarios("app"), "split"))
    thrower = result["exceptions"][0]["frames"][-1]
    assert thrower["pre_context"] == [
        "export function divide(total, parts) {",
        "  if (parts === 0) {",
    ]
    assert thrower["post_context"] == ["  }", "  return total / parts;"]


def test_the_input_event_is_left_unchanged(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    upload(store, "app.min.js", "app.min.js.map")
    original = scenario_event(scenarios("app"), "split")
    snapshot = json.dumps(original, sort_keys=True)
    Symbolicator(settings, store=store).symbolicate(original)
    assert json.dumps(original, sort_keys=True) == snapshot


def test_a_symbolicated_event_passes_through_unchanged_a_second_time(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    upload(store, "app.min.js", "app.min.js.map")
    symbolicator = Symbolicator(settings, store=store)
    once = symbolicator.symbolicate(scenario_event(scenarios("app"), "split"))
    assert symbolicator.symbolicate(once) is once


def test_debug_id_finds_artifacts_without_release_or_matching_url(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    # Uploaded under another release and another name: only the debug id can find them.
    store.upload(
        project_id=1,
        release="other",
        dist=None,
        url="~/assets/w.js",
        data=(DIST / "widget.min.js").read_bytes(),
    )
    store.upload(
        project_id=1,
        release="other",
        dist=None,
        url="~/assets/w.js.map",
        data=(DIST / "widget.min.js.map").read_bytes(),
    )
    data = scenarios("widget")
    images = [{"code_file": data["url"], "debug_id": data["debug_id"].upper()}]
    result = Symbolicator(settings, store=store).symbolicate(
        scenario_event(data, "negative", release=None, debug_images=images)
    )
    frames = result["exceptions"][0]["frames"]
    assert [(f["symbolication"], f["function"], f["lineno"]) for f in frames] == [
        ("ok", f["expected"]["function"], f["expected"]["lineno"])
        for f in scenario_frames(data, "negative")
    ]


def test_dist_must_match(settings: SymbolicateSettings, store: ArtifactStore) -> None:
    upload(store, "app.min.js", "app.min.js.map", dist="web")
    symbolicator = Symbolicator(settings, store=store)
    data = scenarios("app")
    matched = symbolicator.symbolicate(scenario_event(data, "split", dist="web"))
    other = symbolicator.symbolicate(scenario_event(data, "split", dist="ios"))
    assert matched["exceptions"][0]["frames"][0]["symbolication"] == "ok"
    assert other["exceptions"][0]["frames"][0]["symbolication"] == "missing_sourcemap"


def test_missing_sourcemap_keeps_the_minified_frame_and_records_one_error(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    upload(store, "app.min.js")  # the map is not uploaded
    original = scenario_event(scenarios("app"), "split")
    result = Symbolicator(settings, store=store).symbolicate(original)

    for before, after in zip(
        original["exceptions"][0]["frames"], result["exceptions"][0]["frames"], strict=True
    ):
        assert after == {**before, "symbolication": "missing_sourcemap"}
    (error,) = result["errors"]
    assert error["stage"] == "symbolicate"
    assert error["kind"] == "missing_sourcemap"
    assert "https://example.com/static/app.min.js.map" in error["detail"]
    fastavro.validation.validate(result, SCHEMA, raise_errors=True)


def test_corrupt_map_is_invalid_sourcemap(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    upload(store, "app.min.js")
    # A map whose mappings are not valid VLQ: the store accepts its shape, symbolic does not.
    bad = json.dumps({"version": 3, "sources": ["a.js"], "names": [], "mappings": "!!!!"})
    store.upload(
        project_id=1, release="1.0", dist=None, url="~/static/app.min.js.map", data=bad.encode()
    )
    result = Symbolicator(settings, store=store).symbolicate(
        scenario_event(scenarios("app"), "split")
    )
    assert {f["symbolication"] for f in result["exceptions"][0]["frames"]} == {"invalid_sourcemap"}
    assert [e["kind"] for e in result["errors"]] == ["invalid_sourcemap"]


@pytest.mark.parametrize(
    ("lineno", "colno"), [(2, 1), (500, 3), (0, 5), (1, 0), (-1, 4), (2**40, 1)]
)
def test_position_outside_the_map_is_no_token(
    settings: SymbolicateSettings, store: ArtifactStore, lineno: int, colno: int
) -> None:
    upload(store, "app.min.js", "app.min.js.map")
    url = scenarios("app")["url"]
    result = Symbolicator(settings, store=store).symbolicate(
        event([frame(url, lineno, colno, "a")])
    )
    (got,) = result["exceptions"][0]["frames"]
    assert (got["symbolication"], got["lineno"], got["colno"]) == ("no_token", lineno, colno)
    assert [e["kind"] for e in result["errors"]] == ["no_token"]


def test_other_platforms_and_frames_without_positions_pass_through(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    symbolicator = Symbolicator(settings, store=store)
    python = event([frame("app.py", 3, 1, "main")], platform="python")
    assert symbolicator.symbolicate(python) is python
    no_column = event([frame("https://example.com/static/app.min.js", 1, None, "a")])
    assert symbolicator.symbolicate(no_column) is no_column
    nothing = event([])
    assert symbolicator.symbolicate(nothing) is nothing


def test_node_platform_is_mapped(settings: SymbolicateSettings, store: ArtifactStore) -> None:
    upload(store, "app.min.js", "app.min.js.map")
    result = Symbolicator(settings, store=store).symbolicate(
        scenario_event(scenarios("app"), "quantity", platform="node")
    )
    assert {f["symbolication"] for f in result["exceptions"][0]["frames"]} == {"ok"}


@pytest.mark.parametrize(
    "abs_path",
    [
        "node:internal/process/task_queues",
        "node:events",
        "internal/main/run_main_module.js",
        "native",
        "[native code]",
        "<anonymous>",
        "evalmachine.<anonymous>",
    ],
)
def test_runtime_frames_are_not_looked_up_and_record_no_error(
    settings: SymbolicateSettings, store: ArtifactStore, abs_path: str
) -> None:
    upload(store, "app.min.js", "app.min.js.map")
    data = scenarios("app")
    mapped = scenario_event(data, "split")
    runtime = frame(abs_path, 95, 5, "processTicksAndRejections")
    mapped["exceptions"][0]["frames"].insert(0, runtime)

    result = Symbolicator(settings, store=store).symbolicate(mapped)

    frames = result["exceptions"][0]["frames"]
    assert frames[0] == runtime  # untouched: no lookup, no symbolication error on it
    assert all(f["symbolication"] == "ok" for f in frames[1:])
    assert result["errors"] == []


@pytest.mark.parametrize(
    ("scope", "shown"),
    [
        ("Money._Money.allocate", "Money.allocate"),
        ("Money._Money.##share", "Money.#share"),
        ("Money.##share", "Money.#share"),
        ("$Cart._$Cart.total", "$Cart.total"),
        ("Outer.Money._Money.of", "Outer.Money.of"),
        ("Cart._items.size", "Cart._items.size"),  # a real property named _items stays
        ("Money._Money", "Money._Money"),  # the alias alone is what the code called it
        ("handleSplit", "handleSplit"),
    ],
)
def test_bundler_artefacts_are_dropped_from_scope_names(scope: str, shown: str) -> None:
    assert source_function_name(scope) == shown


def test_a_name_only_the_minifier_gave_is_kept_and_said_so(
    settings: SymbolicateSettings, store: ArtifactStore
) -> None:
    """Only the map, found by debug id, without its sources: lines still map, but neither the
    minified code's scopes nor the original source can name the function. It stays the one
    the SDK sent, and the event says that name is the minifier's."""
    sourcemap = json.loads((DIST / "widget.min.js.map").read_text())
    sourcemap.pop("sourcesContent")
    without_sources = json.dumps(sourcemap).encode()
    store.upload(
        project_id=1, release="other", dist=None, url="~/assets/w.js.map", data=without_sources
    )
    data = scenarios("widget")
    images = [{"code_file": data["url"], "debug_id": data["debug_id"]}]
    sent = scenario_event(data, "negative", release=None, debug_images=images)
    result = Symbolicator(settings, store=store).symbolicate(sent)

    frames = result["exceptions"][0]["frames"]
    assert [f["symbolication"] for f in frames] == ["ok"] * len(frames)
    assert [f["lineno"] for f in frames] == [
        f["expected"]["lineno"] for f in scenario_frames(data, "negative")
    ]
    assert [f["function"] for f in frames] == [f["minified"]["function"] for f in frames]
    marked = [e["detail"] for e in result["errors"] if e["kind"] == "minified_function_name"]
    named = [f for f in frames if f["function"] is not None]
    assert named and len(marked) == len(named)


@pytest.mark.parametrize("skip", [False, True])
def test_library_frames_are_not_looked_up_where_the_project_says_so(
    tmp_path: Path, skip: bool
) -> None:
    """A frame marked not in-app with no artifact for it: looked up (and failing) by default,
    left alone without an error for a project in skip_library_frames."""
    settings = SymbolicateSettings(
        artifacts_dir=tmp_path / "artifacts",
        cache_dir=tmp_path / "cache",
        skip_library_frames=frozenset({1} if skip else set()),
    )
    library = {**frame("https://cdn.example/vendor.min.js", 1, 10, "r"), "in_app": False}
    result = Symbolicator(settings).symbolicate(event([library]))

    (got,) = result["exceptions"][0]["frames"]
    assert got["symbolication"] == (None if skip else "missing_sourcemap")
    assert bool(result["errors"]) is not skip
