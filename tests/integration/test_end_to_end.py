"""The whole pipeline on a real broker: raw events through normalize, symbolicate and store into
SQLite, with every event accounted for exactly once by the database and the outcomes topic."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.db import open_store
from pipeline.adapters.kafka.codec import make_codec
from pipeline.demo import upload_demo_artifacts
from pipeline.runtime.messages import Produce
from pipeline.stages.normalize import DropRule, NormalizeSettings
from pipeline.stages.outcomes import wall_ms
from pipeline.stages.registry import resolve_stage
from tests.support.pipeline import (
    FAST_RUNTIME,
    decode_all,
    demo_scenarios,
    expected_frames,
    js_payload,
    mapped_frames,
    new_event_id,
    pipeline_settings,
    produce,
    raw_event,
    read_to_end,
    running,
    wait_until_done,
)

pytestmark = pytest.mark.integration

JS_PROJECT, PLAIN_PROJECT = 11, 12
RELEASE = "shop@2.0.0"
BLOCKED_SDK = "blocked.python"


def test_every_event_is_stored_filtered_or_invalid_exactly_once(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    normalize = NormalizeSettings(drop_rules=(DropRule(name="blocked_sdk", sdk_name=BLOCKED_SDK),))
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path, normalize=normalize)
    upload_demo_artifacts(
        ArtifactStore(settings.symbolicate.artifacts_dir), project_id=JS_PROJECT, release=RELEASE
    )
    codec = make_codec(settings.kafka)
    raw_topic = settings.kafka.topic("events.raw")
    received = wall_ms()

    def raw(event_id: str, project_id: int, payload: bytes) -> Produce:
        return raw_event(
            codec,
            raw_topic,
            event_id=event_id,
            project_id=project_id,
            payload=payload,
            received_at_ms=received,
        )

    scenarios = demo_scenarios()
    js = {new_event_id(): scenarios[n % len(scenarios)] for n in range(40)}
    plain = [new_event_id() for _ in range(60)]
    filtered = [new_event_id() for _ in range(8)]
    not_json = [new_event_id() for _ in range(6)]
    undecodable = [new_event_id() for _ in range(4)]
    records = [
        raw(i, JS_PROJECT, json.dumps(js_payload(s, RELEASE)).encode()) for i, s in js.items()
    ]
    records += [
        raw(i, PLAIN_PROJECT, json.dumps({"message": f"job {n} failed"}).encode())
        for n, i in enumerate(plain)
    ]
    records += [raw(i, PLAIN_PROJECT, b'{"message": "cut off') for i in not_json]
    records += [
        raw(i, PLAIN_PROJECT, json.dumps({"message": "m", "sdk": {"name": BLOCKED_SDK}}).encode())
        for i in filtered
    ]
    records += [Produce(raw_topic, b"\xc3\x01garbage", key=i.encode()) for i in undecodable]
    duplicates = records[::10]  # the edge retried these: same event id, same payload
    produce(kafka_bootstrap, records + duplicates)

    normalize_settings = settings.model_copy(
        update={"runtime": FAST_RUNTIME.model_copy(update={"workers": 2})}
    )
    specs = [
        (resolve_stage("normalize", normalize_settings), normalize_settings),
        (resolve_stage("symbolicate", settings), settings),
        (resolve_stage("store", settings), settings),
    ]
    with running(*specs):
        for spec, _ in specs:  # in pipeline order: each input is complete once the last is done
            wait_until_done(kafka_bootstrap, spec, timeout_s=40)

    store = open_store(settings.store.dsn)
    try:
        stored = {e.event_id for e in store.list_events(limit=100_000)}
        assert stored == {*js, *plain}
        for event_id, scenario in js.items():
            event = store.get_event(JS_PROJECT, event_id)
            assert event is not None
            assert mapped_frames(event.record) == expected_frames(scenario), scenario["name"]
            assert set(event.record["stage_times_ms"]) == {"normalize", "symbolicate", "store"}
        for event_id in plain:  # passed through symbolicate undecoded, its time in a header
            event = store.get_event(PLAIN_PROJECT, event_id)
            assert event is not None
            times = event.record["stage_times_ms"]
            assert times["normalize"] <= times["symbolicate"] <= times["store"]
        groups = store.list_groups(project_id=JS_PROJECT, limit=100)
        assert sum(g.times_seen for g in groups) == len(js)
        assert len(groups) == len(scenarios)
    finally:
        store.close()

    by_kind: dict[str, list[str]] = defaultdict(list)
    outcomes = decode_all(
        codec, "outcome", read_to_end(kafka_bootstrap, settings.kafka.topic("outcomes"))
    )
    for outcome in outcomes:
        by_kind[outcome["outcome"]].append(outcome["event_id"])
    assert set(by_kind) == {"accepted", "filtered", "invalid"}
    assert set(by_kind["accepted"]) == stored
    assert set(by_kind["filtered"]) == set(filtered)
    assert set(by_kind["invalid"]) == {*not_json, *undecodable}
    unique = {*js, *plain, *filtered, *not_json, *undecodable}
    kinds = [set(by_kind[kind]) for kind in ("accepted", "filtered", "invalid")]
    assert sum(len(ids) for ids in kinds) == len(set.union(*kinds)) == len(unique)
    assert Counter(by_kind["accepted"]).most_common(1)[0][1] == 1  # duplicates never counted
    reasons: dict[tuple[str, str | None, str], set[str]] = defaultdict(set)
    for outcome in outcomes:
        reasons[outcome["outcome"], outcome["reason"], outcome["stage"]].add(outcome["event_id"])
    assert reasons == {
        ("accepted", None, "store"): stored,
        ("filtered", "blocked_sdk", "normalize"): set(filtered),
        ("invalid", "not_json", "normalize"): set(not_json),
        ("invalid", "undecodable", "normalize"): set(undecodable),
    }
