"""Finding the map of a fetched file: SourceMap headers, comments, data: URLs, relative URLs,
fetch failures; and the store taking precedence over HTTP."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.http.fetcher import FetchError, FetchPolicy, FetchResponse
from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.stages.symbolicate.settings import (
    FetchSettings,
    ProjectFetchPolicy,
    SymbolicateSettings,
)
from pipeline.stages.symbolicate.symbolicator import Symbolicator
from tests.fixtures.js.events import APP_URL, DIST, scenario_event, scenarios, symbolication, upload

SOURCE = (DIST / "app.min.js").read_bytes()
MAP = (DIST / "app.min.js.map").read_bytes()
BARE_SOURCE = SOURCE.replace(b"//# sourceMappingURL=app.min.js.map", b"")


class Web:
    """url -> (status or FetchError kind, body, headers, final url)."""

    def __init__(self, pages: dict[str, tuple[bytes, dict[str, str]] | str]) -> None:
        self.pages = pages
        self.calls: list[tuple[str, FetchPolicy]] = []

    def fetch(self, url: str, policy: FetchPolicy) -> FetchResponse:
        self.calls.append((url, policy))
        page = self.pages.get(url, "http_404")
        if isinstance(page, str):
            raise FetchError(page, f"{url} failed")
        body, headers = page
        final = headers.pop("_final", url) if "_final" in headers else url
        return FetchResponse(url=final, headers=httpx.Headers(headers), body=body)


@pytest.fixture
def settings(tmp_path: Path) -> SymbolicateSettings:
    policy = ProjectFetchPolicy(allowed_origins=("https://example.com",))
    return SymbolicateSettings(
        artifacts_dir=tmp_path / "artifacts",
        cache_dir=tmp_path / "cache",
        fetch=FetchSettings(projects={1: policy}),
    )


def run(settings: SymbolicateSettings, web: Web, **kwargs: Any) -> dict[str, Any]:
    event = scenario_event(scenarios("app"), "split", **kwargs)
    return Symbolicator(settings, fetcher=web).symbolicate(event)


def resolved_lines(result: dict[str, Any]) -> list[int]:
    assert set(symbolication(result)) == {"ok"}, result["errors"]
    return [f["lineno"] for f in result["exceptions"][0]["frames"]]


EXPECTED_LINES = [f["expected"]["lineno"] for f in scenarios("app")["scenarios"][0]["frames"]]


def test_the_comment_names_the_map_relative_to_the_file(settings: SymbolicateSettings) -> None:
    web = Web({APP_URL: (SOURCE, {}), APP_URL + ".map": (MAP, {})})
    assert resolved_lines(run(settings, web)) == EXPECTED_LINES
    assert [url for url, _ in web.calls] == [APP_URL, APP_URL + ".map"]
    assert web.calls[0][1].origins.patterns[0].host == "example.com"


@pytest.mark.parametrize("header", ["SourceMap", "X-SourceMap"])
def test_a_header_wins_over_the_comment(settings: SymbolicateSettings, header: str) -> None:
    maps = "https://example.com/maps/app.js.map"
    web = Web({APP_URL: (SOURCE, {header: "/maps/app.js.map"}), maps: (MAP, {})})
    assert resolved_lines(run(settings, web)) == EXPECTED_LINES
    assert [url for url, _ in web.calls] == [APP_URL, maps]


def test_relative_references_resolve_against_the_url_after_redirects(
    settings: SymbolicateSettings,
) -> None:
    final = "https://example.com/v2/static/app.min.js"
    web = Web({APP_URL: (SOURCE, {"_final": final}), final + ".map": (MAP, {})})
    result = run(settings, web)
    assert resolved_lines(result) == EXPECTED_LINES
    assert result["exceptions"][0]["frames"][0]["abs_path"] == "https://example.com/v2/src/app.js"


@pytest.mark.parametrize(
    "data_url",
    [
        "data:application/json;charset=utf-8;base64," + base64.b64encode(MAP).decode(),
        "data:application/json," + quote(MAP.decode()),
    ],
)
def test_inline_data_url_maps(settings: SymbolicateSettings, data_url: str) -> None:
    source = BARE_SOURCE + f"\n//# sourceMappingURL={data_url}\n".encode()
    web = Web({APP_URL: (source, {})})
    assert resolved_lines(run(settings, web)) == EXPECTED_LINES
    assert len(web.calls) == 1


def test_a_broken_data_url_is_an_invalid_sourcemap(settings: SymbolicateSettings) -> None:
    source = BARE_SOURCE + b"\n//# sourceMappingURL=data:application/json;base64,!!!\n"
    result = run(settings, Web({APP_URL: (source, {})}))
    assert set(symbolication(result)) == {"invalid_sourcemap"}


def test_a_file_that_names_no_map(settings: SymbolicateSettings) -> None:
    result = run(settings, Web({APP_URL: (BARE_SOURCE, {})}))
    assert set(symbolication(result)) == {"missing_sourcemap"}
    assert result["errors"][0]["detail"] == f"{APP_URL} names no source map"


def test_an_html_page_instead_of_a_map_is_an_invalid_sourcemap(
    settings: SymbolicateSettings,
) -> None:
    web = Web({APP_URL: (SOURCE, {}), APP_URL + ".map": (b"<!doctype html><p>app</p>", {})})
    assert set(symbolication(run(settings, web))) == {"invalid_sourcemap"}


@pytest.mark.parametrize("kind", ["timeout", "blocked_address", "http_404", "circuit_open"])
def test_fetch_failures_name_their_kind(settings: SymbolicateSettings, kind: str) -> None:
    result = run(settings, Web({APP_URL: (SOURCE, {}), APP_URL + ".map": kind}))
    assert set(symbolication(result)) == {f"fetch_failed:{kind}"}
    assert result["errors"] == [
        {"stage": "symbolicate", "kind": f"fetch_failed:{kind}", "detail": f"{APP_URL}.map failed"}
    ]


def test_projects_without_a_policy_never_fetch(settings: SymbolicateSettings) -> None:
    web = Web({APP_URL: (SOURCE, {}), APP_URL + ".map": (MAP, {})})
    result = run(settings, web, project_id=2)
    assert set(symbolication(result)) == {"missing_sourcemap"}
    assert "the project does not fetch" in result["errors"][0]["detail"]
    assert web.calls == []


def test_uploaded_artifacts_win_over_fetching(settings: SymbolicateSettings) -> None:
    upload(ArtifactStore(settings.artifacts_dir), "app.min.js", "app.min.js.map")
    web = Web({})
    assert resolved_lines(run(settings, web)) == EXPECTED_LINES
    assert web.calls == []


def test_an_uploaded_file_whose_map_is_only_online(settings: SymbolicateSettings) -> None:
    upload(ArtifactStore(settings.artifacts_dir), "app.min.js")
    web = Web({APP_URL + ".map": (MAP, {})})
    assert resolved_lines(run(settings, web)) == EXPECTED_LINES
    assert [url for url, _ in web.calls] == [APP_URL + ".map"]


def test_the_policy_comes_from_settings_and_bad_origins_are_config_errors() -> None:
    with pytest.raises(ValueError, match="not an http or https origin"):
        ProjectFetchPolicy(allowed_origins=("cdn.example.com",))
    with pytest.raises(ValueError, match="at least 1"):
        ProjectFetchPolicy(allowed_origins=())
    parsed = FetchSettings.model_validate(
        json.loads('{"projects": {"5": {"allowed_origins": ["https://*.example.com"]}}}')
    )
    assert parsed.projects[5].allow_private_networks is False


def test_a_bad_origin_in_the_settings_file_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "symbolicate:\n  fetch:\n    projects:\n      7: {allowed_origins: [cdn.example.com]}\n"
    )
    with pytest.raises(ConfigError, match=r"symbolicate\.fetch\.projects\.7\.allowed_origins"):
        load_settings(config)
