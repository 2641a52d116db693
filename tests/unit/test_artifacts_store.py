"""The artifact store: lookup by release, dist, URL (with ~/) and debug id; atomic records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.adapters.artifacts.jsfiles import InvalidArtifact, inspect_artifact, source_comments
from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.artifacts.urls import join_url, url_candidates

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "js" / "dist"
MAP = json.dumps({"version": 3, "sources": ["a.js"], "names": [], "mappings": "AAAA"}).encode()


def test_url_candidates_strip_query_then_scheme_and_host() -> None:
    assert url_candidates("https://example.com/static/app.min.js?v=3#x") == [
        "https://example.com/static/app.min.js?v=3#x",
        "https://example.com/static/app.min.js",
        "~/static/app.min.js?v=3",
        "~/static/app.min.js",
    ]
    assert url_candidates("app:///main.js") == ["app:///main.js", "~/main.js"]
    assert url_candidates("/srv/app/dist/server.js") == [
        "/srv/app/dist/server.js",
        "~/srv/app/dist/server.js",
    ]


@pytest.mark.parametrize(
    "uploaded",
    [
        "~/static/app.min.js",
        "https://example.com/static/app.min.js",
        "~/static/app.min.js?v=3",
    ],
)
def test_lookup_by_url_matches_tilde_names(tmp_path: Path, uploaded: str) -> None:
    store = ArtifactStore(tmp_path)
    stored = store.upload(project_id=7, release="r1", dist=None, url=uploaded, data=b"var a=1;")
    assert store.find_by_url(7, "r1", None, "https://example.com/static/app.min.js?v=3") == stored


def test_lookup_is_scoped_by_project_release_and_dist(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    url = "~/static/app.min.js"
    stored = store.upload(project_id=7, release="r1", dist="web", url=url, data=b"var a=1;")
    full = "https://example.com/static/app.min.js"
    assert store.find_by_url(7, "r1", "web", full) == stored
    assert store.find_by_url(7, "r1", None, full) is None
    assert store.find_by_url(7, "r2", "web", full) is None
    assert store.find_by_url(8, "r1", "web", full) is None
    assert store.find_by_url(7, "r1", "web", "https://example.com/other.js") is None


def test_release_names_may_hold_any_character(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    release = "../../etc/passwd@1.0 / beta"
    stored = store.upload(project_id=1, release=release, dist=None, url="~/a.js", data=b"1")
    assert store.find_by_url(1, release, None, "http://x/a.js") == stored
    assert store.list_release(1, release, None) == [stored]
    assert all(p.is_relative_to(tmp_path) for p in tmp_path.rglob("*"))


def test_reupload_replaces_the_record_and_blob_is_readable(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.upload(project_id=1, release="r", dist=None, url="~/a.js", data=b"old")
    new = store.upload(project_id=1, release="r", dist=None, url="~/a.js", data=b"new")
    found = store.find_by_url(1, "r", None, "https://h/a.js")
    assert found == new
    assert store.read(found) == b"new"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_debug_ids_from_the_file_comment_and_the_map_field(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    source = (FIXTURES / "widget.min.js").read_bytes()
    sourcemap = (FIXTURES / "widget.min.js.map").read_bytes()
    debug_id = json.loads(sourcemap)["debugId"]
    s = store.upload(project_id=1, release="r", dist=None, url="~/w.js", data=source)
    m = store.upload(project_id=1, release="r", dist=None, url="~/w.js.map", data=sourcemap)
    assert s.debug_id == m.debug_id == debug_id
    assert s.sourcemap_url == "widget.min.js.map"
    assert store.find_by_debug_id(1, debug_id.upper(), "minified_source") == s
    assert store.find_by_debug_id(1, debug_id, "source_map") == m
    assert store.find_by_debug_id(2, debug_id, "source_map") is None
    assert store.find_by_debug_id(1, "not-a-uuid", "source_map") is None


def test_source_comments_take_the_last_of_each() -> None:
    body = (
        b"x()\n//# sourceMappingURL=old.map\ny()\n//# debugId=ABC\n//@ sourceMappingURL=new.map\n"
    )
    assert source_comments(body) == ("new.map", "ABC")
    assert source_comments(b"var s = '//# sourceMappingURL=in-a-string.map';") == (None, None)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("app.js.map", b"<html>not found</html>", "not JSON"),
        ("app.js.map", b'{"version": 2, "mappings": ""}', "version 3"),
        ("app.js.map", b'{"version": 3}', "mappings"),
        ("app.js.map", b'{"version": 3, "mappings": "", "debugId": "nope"}', "not a UUID"),
        ("app.js", b"\xff\xfe\x00binary", "UTF-8"),
    ],
)
def test_invalid_artifacts_are_refused(name: str, data: bytes, message: str) -> None:
    with pytest.raises(InvalidArtifact, match=message):
        inspect_artifact(name, data)


def test_maps_may_carry_the_xssi_prefix() -> None:
    info = inspect_artifact("a.js.map", b")]}'\n" + MAP)
    assert info.kind == "source_map"


@pytest.mark.parametrize(
    ("base", "reference", "expected"),
    [
        ("app:///static/app.min.js", "app.min.js.map", "app:///static/app.min.js.map"),
        ("app:///static/js/a.js", "../maps/a.map", "app:///static/maps/a.map"),
        ("app:///static/a.js", "https://cdn.example/a.map", "https://cdn.example/a.map"),
        ("https://example.com/x/app.js", "app.js.map", "https://example.com/x/app.js.map"),
        ("https://example.com/x/app.js", "/m/app.js.map", "https://example.com/m/app.js.map"),
    ],
)
def test_source_map_references_resolve_under_any_scheme(
    base: str, reference: str, expected: str
) -> None:
    assert join_url(base, reference) == expected
