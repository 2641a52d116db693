"""The synthetic event mix: reproducible, accepted (or rejected) by normalize as intended."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.dev.artifacts import upload_demo
from pipeline.errors import UserError
from pipeline.generator import DEMO_RELEASES, EventFactory, GeneratedRecord, Mix
from pipeline.generator.factory import DAY_MS
from pipeline.stages.normalize import Invalid, Normalized, NormalizeSettings, normalize_event

NOW_MS = 1_780_000_000_000
SETTINGS = NormalizeSettings()


def generate(mix: Mix, events: int, seed: int = 7) -> list[GeneratedRecord]:
    factory = EventFactory(mix, random.Random(seed))
    records: list[GeneratedRecord] = []
    while sum(r.kind != "duplicate" for r in records) < events:
        records += factory.next(NOW_MS)
    return records


MIXED = generate(Mix(projects=4, invalid_ratio=0.1, duplicate_ratio=0.1, stale_ratio=0.1), 1000)


def test_a_seed_reproduces_every_record() -> None:
    mix = Mix(invalid_ratio=0.2, duplicate_ratio=0.2)
    assert generate(mix, 200, seed=3) == generate(mix, 200, seed=3)
    assert generate(mix, 200, seed=3) != generate(mix, 200, seed=4)


def test_records_match_the_raw_event_schema_fields() -> None:
    for generated in MIXED[:200]:
        record = generated.record
        assert set(record) == {
            "event_id",
            "project_id",
            "received_at_ms",
            "payload",
            "remote_addr",
            "content_type",
        }
        assert len(record["event_id"]) == 32
        assert 1 <= record["project_id"] <= 4
        assert isinstance(record["payload"], bytes)


def test_valid_events_normalize_and_invalid_ones_are_rejected() -> None:
    outcomes: Counter[str] = Counter()
    for generated in MIXED:
        result = normalize_event(generated.record, SETTINGS, NOW_MS)
        expected = Invalid if generated.kind == "invalid" else Normalized
        assert isinstance(result, expected), (generated.kind, generated.platform, result)
        outcomes[type(result).__name__] += 1
    assert outcomes["Invalid"] > 0 and outcomes["Normalized"] > 0


def test_invalid_events_cover_every_kind() -> None:
    kinds = {g.platform for g in MIXED if g.kind == "invalid"}
    assert kinds == {"not_json", "json_array", "wrong_types"}
    reasons = {
        normalize_event(g.record, SETTINGS, NOW_MS).reason  # type: ignore[union-attr]
        for g in MIXED
        if g.kind == "invalid"
    }
    assert reasons == {"not_json", "not_an_object", "bad_type:exception"}


def test_ratios_hold_approximately() -> None:
    kinds = Counter(g.kind for g in MIXED)
    events = 1000
    assert kinds["invalid"] + kinds["stale"] + kinds["event"] == events
    assert kinds["invalid"] == pytest.approx(0.1 * events, rel=0.25)
    assert kinds["stale"] == pytest.approx(0.1 * events, rel=0.25)
    assert kinds["duplicate"] == pytest.approx(0.1 * events, rel=0.25)
    platforms = Counter(g.platform for g in MIXED if g.kind == "event")
    assert {"python", "javascript", "node"} <= set(platforms)


def test_a_duplicate_repeats_an_earlier_event() -> None:
    seen: dict[str, GeneratedRecord] = {}
    duplicates = 0
    for generated in MIXED:
        event_id = generated.record["event_id"]
        if generated.kind == "duplicate":
            original = seen[event_id]
            assert generated.record["payload"] == original.record["payload"]
            assert generated.record["project_id"] == original.record["project_id"]
            duplicates += 1
        else:
            assert event_id not in seen
            seen[event_id] = generated
    assert duplicates > 0


def test_stale_events_have_days_old_timestamps_that_normalize_keeps() -> None:
    stale = [g for g in MIXED if g.kind == "stale"]
    assert stale
    for generated in stale:
        assert generated.received_at_ms == NOW_MS
        result = normalize_event(generated.record, SETTINGS, NOW_MS)
        assert isinstance(result, Normalized)
        age_ms = NOW_MS - result.event["timestamp_ms"]
        assert DAY_MS <= age_ms <= 7 * DAY_MS + 1000


def test_received_ago_moves_only_stale_events_into_the_past() -> None:
    hour_ms = 3_600_000
    records = generate(Mix(stale_ratio=0.5, received_ago_ms=2 * hour_ms), 300)
    received: dict[str, set[int]] = {g.kind: set() for g in records}
    for generated in records:
        received[generated.kind].add(generated.received_at_ms)
    assert received["stale"] == {NOW_MS - 2 * hour_ms}
    assert received["event"] == {NOW_MS}


def test_js_frames_point_at_the_uploaded_demo_artifacts(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    upload_demo(store, projects=4)
    js = [g for g in MIXED if g.kind == "event" and g.platform in ("javascript", "node")]
    by_debug_id = errors = 0
    for generated in js:
        payload = json.loads(generated.record["payload"])
        target = next(r for r in DEMO_RELEASES if r.platform == generated.platform)
        assert (payload["release"], payload.get("dist")) == (target.release, target.dist)
        project_id = generated.record["project_id"]
        exceptions = payload.get("exception", {"values": []})["values"]
        frames = [f for e in exceptions for f in e["stacktrace"]["frames"]]
        errors += bool(frames)
        for frame in frames:
            found = store.find_by_url(project_id, target.release, target.dist, frame["abs_path"])
            assert found is not None, frame["abs_path"]
        for image in payload.get("debug_meta", {}).get("images", []):
            assert store.find_by_debug_id(project_id, image["debug_id"], "source_map") is not None
            by_debug_id += 1
    assert {g.platform for g in js} == {"javascript", "node"}
    assert 0 < by_debug_id < errors


@pytest.mark.parametrize(
    ("mix_args", "message"),
    [
        ({"invalid_ratio": 1.5}, "invalid ratio"),
        ({"invalid_ratio": 0.6, "stale_ratio": 0.6}, "together"),
        ({"projects": 0}, "project"),
        ({"received_ago_ms": 1000}, "--stale-ratio"),
    ],
)
def test_impossible_mixes_are_user_errors(mix_args: dict[str, float], message: str) -> None:
    with pytest.raises(UserError, match=message):
        Mix(**mix_args)  # type: ignore[arg-type]
