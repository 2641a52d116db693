"""The caches: parsed maps (LRU), fetched files (disk, across instances), failures (TTL), and
one lookup for concurrent calls (single flight)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.adapters.artifacts.store import ArtifactStore, StoredArtifact
from pipeline.adapters.http.fetcher import FetchPolicy, FetchResponse
from pipeline.stages.symbolicate.memory import ExpiringCache, SingleFlight, WeightedLRU
from pipeline.stages.symbolicate.settings import (
    FetchSettings,
    ProjectFetchPolicy,
    SymbolicateSettings,
)
from pipeline.stages.symbolicate.symbolicator import Symbolicator
from tests.fixtures.js.events import DIST, scenario_event, scenarios, symbolication, upload


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.001)


class FakeFetcher:
    """Serves the fixture bundles under https://example.com/static/, counting requests."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.urls: list[str] = []
        self.gate = gate

    def fetch(self, url: str, policy: FetchPolicy) -> FetchResponse:
        self.urls.append(url)
        if self.gate is not None:
            self.gate.wait(5)
        name = url.rsplit("/", 1)[1]
        return FetchResponse(url=url, headers=httpx.Headers(), body=(DIST / name).read_bytes())


class CountingStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads = 0
        self.lookups = 0

    def read(self, artifact: StoredArtifact) -> bytes:
        self.reads += 1
        return super().read(artifact)

    def find_by_url(self, *args: Any, **kwargs: Any) -> StoredArtifact | None:
        self.lookups += 1
        return super().find_by_url(*args, **kwargs)


def fetching_settings(tmp_path: Path, **changes: object) -> SymbolicateSettings:
    policy = ProjectFetchPolicy(allowed_origins=("https://example.com",))
    fetch = FetchSettings(projects={1: policy}, cache_ttl_s=600)
    return SymbolicateSettings(
        artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache", fetch=fetch
    ).model_copy(update=changes)


def test_lru_evicts_least_recently_used_by_weight() -> None:
    lru: WeightedLRU[str, int] = WeightedLRU(max_weight=10)
    lru.put("a", 1, 4)
    lru.put("b", 2, 4)
    assert lru.get("a") == 1  # "b" is now the least recently used
    lru.put("c", 3, 4)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    assert lru.weight == 8
    lru.put("huge", 4, 11)
    assert lru.get("huge") is None
    assert len(lru) == 2


def test_expiring_cache_forgets_after_ttl_and_keeps_at_most_n() -> None:
    clock = Clock()
    cache: ExpiringCache[str, str] = ExpiringCache(ttl_s=10, max_entries=2, clock=clock)
    cache.put("a", "x")
    clock.now += 9.9
    assert cache.get("a") == "x"
    clock.now += 0.1
    assert cache.get("a") is None
    cache.put("a", "1")
    cache.put("b", "2")
    cache.put("c", "3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, "2", "3")


def test_single_flight_runs_concurrent_work_once() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = threading.Event()
    calls: list[str] = []

    def leader_work() -> int:
        calls.append("leader")
        release.wait(5)
        return 42

    def follower_work() -> int:
        calls.append("follower")
        return -1

    with ThreadPoolExecutor(6) as pool:
        leader = pool.submit(flight.run, "k", leader_work)
        wait_for(lambda: calls == ["leader"])
        followers = [pool.submit(flight.run, "k", follower_work) for _ in range(4)]
        other_key = pool.submit(flight.run, "other", lambda: 7)
        assert other_key.result(5) == 7  # another key does not wait
        wait_for(lambda: flight.waiting() == 4)
        release.set()
        assert [f.result(5) for f in [leader, *followers]] == [42] * 5
    assert calls == ["leader"]
    assert flight.run("k", lambda: 1) == 1  # done flights are forgotten


def test_single_flight_hands_the_error_to_every_waiter() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    started, release = threading.Event(), threading.Event()

    def failing() -> int:
        started.set()
        release.wait(5)
        raise RuntimeError("boom")

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(flight.run, "k", failing)]
        assert started.wait(5)
        futures += [pool.submit(flight.run, "k", failing) for _ in range(2)]
        wait_for(lambda: flight.waiting() == 2)
        release.set()
        for future in futures:
            with pytest.raises(RuntimeError, match="boom"):
                future.result(5)


def test_parsed_maps_are_reused_until_evicted(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "artifacts")
    upload(store, "app.min.js", "app.min.js.map", "widget.min.js", "widget.min.js.map")
    app, widget = scenarios("app"), scenarios("widget")
    app_size = sum((DIST / n).stat().st_size for n in ("app.min.js", "app.min.js.map"))
    settings = SymbolicateSettings(cache_dir=tmp_path / "cache", memory_cache_bytes=app_size)
    symbolicator = Symbolicator(settings, store=store)

    symbolicator.symbolicate(scenario_event(app, "split"))
    assert store.reads == 2
    symbolicator.symbolicate(scenario_event(app, "quantity"))
    assert store.reads == 2  # parsed once, looked up twice
    widget_event = scenario_event(widget, "negative")
    for f in widget_event["exceptions"][0]["frames"]:
        f["abs_path"] = "https://example.com/static/widget.min.js"
    assert set(symbolication(symbolicator.symbolicate(widget_event))) == {"ok"}
    assert store.reads == 4  # the widget's map pushed the app's out
    symbolicator.symbolicate(scenario_event(app, "split"))
    assert store.reads == 6


def test_found_files_are_not_looked_up_again_until_the_located_ttl(tmp_path: Path) -> None:
    """The artifact index is read once per file, not once per event."""
    clock = Clock()
    store = CountingStore(tmp_path / "artifacts")
    upload(store, "app.min.js", "app.min.js.map")
    settings = SymbolicateSettings(cache_dir=tmp_path / "cache", located_cache_ttl_s=60)
    symbolicator = Symbolicator(settings, store=store, clock=clock)
    app = scenarios("app")

    first = symbolicator.symbolicate(scenario_event(app, "split"))
    assert set(symbolication(first)) == {"ok"}
    assert store.lookups == 2  # the minified file, then its map
    for _ in range(3):
        assert symbolicator.symbolicate(scenario_event(app, "split")) == first
    assert store.lookups == 2
    clock.now += 60
    assert symbolicator.symbolicate(scenario_event(app, "split")) == first
    assert store.lookups == 4
    assert store.reads == 2  # the map stayed parsed throughout


def test_fetched_files_are_reused_from_disk_by_a_new_instance(tmp_path: Path) -> None:
    clock = Clock()
    settings = fetching_settings(tmp_path)
    first = FakeFetcher()
    result = Symbolicator(settings, fetcher=first, clock=clock).symbolicate(
        scenario_event(scenarios("app"), "split")
    )
    assert set(symbolication(result)) == {"ok"}
    assert first.urls == [
        "https://example.com/static/app.min.js",
        "https://example.com/static/app.min.js.map",
    ]

    second = FakeFetcher()
    again = Symbolicator(settings, fetcher=second, clock=clock).symbolicate(
        scenario_event(scenarios("app"), "split")
    )
    assert again == result
    assert second.urls == []

    clock.now += 600  # cache_ttl_s
    Symbolicator(settings, fetcher=second, clock=clock).symbolicate(
        scenario_event(scenarios("app"), "split")
    )
    assert len(second.urls) == 2


def test_failures_are_remembered_for_the_negative_ttl(tmp_path: Path) -> None:
    clock = Clock()
    store = ArtifactStore(tmp_path / "artifacts")
    settings = SymbolicateSettings(cache_dir=tmp_path / "cache", negative_cache_ttl_s=60)
    symbolicator = Symbolicator(settings, store=store, clock=clock)
    app = scenarios("app")

    assert set(symbolication(symbolicator.symbolicate(scenario_event(app, "split")))) == {
        "missing_sourcemap"
    }
    upload(store, "app.min.js", "app.min.js.map")
    clock.now += 59
    assert set(symbolication(symbolicator.symbolicate(scenario_event(app, "split")))) == {
        "missing_sourcemap"
    }
    clock.now += 1
    assert set(symbolication(symbolicator.symbolicate(scenario_event(app, "split")))) == {"ok"}


def test_concurrent_events_for_one_file_fetch_it_once(tmp_path: Path) -> None:
    gate = threading.Event()
    fetcher = FakeFetcher(gate)
    symbolicator = Symbolicator(fetching_settings(tmp_path), fetcher=fetcher)
    app = scenarios("app")
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(symbolicator.symbolicate, scenario_event(app, "split"))]
        wait_for(lambda: len(fetcher.urls) == 1)
        futures += [
            pool.submit(symbolicator.symbolicate, scenario_event(app, name))
            for name in ("split", "quantity", "share", "split", "share")
        ]
        wait_for(lambda: symbolicator.stats().waiting_calls == 5)
        gate.set()
        results = [f.result(5) for f in futures]
    assert all(set(symbolication(r)) == {"ok"} for r in results)
    assert len(fetcher.urls) == 2
