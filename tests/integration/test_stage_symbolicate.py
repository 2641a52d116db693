"""The symbolicate stage alone on a real broker: normalized events with the demo shop's minified
frames in, events mapped to their original files, lines and functions out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import Settings
from pipeline.demo import upload_demo_artifacts
from pipeline.runtime.messages import RECEIVED_AT_HEADER, Produce
from pipeline.stages.normalize import grouping_hash_of
from pipeline.stages.outcomes import wall_ms
from pipeline.stages.passthrough import MINIFIED_FRAMES_HEADER
from pipeline.stages.symbolicate.stage import symbolicate_stage
from tests.support.pipeline import (
    as_record,
    decode_all,
    demo_scenarios,
    expected_frames,
    js_payload,
    mapped_frames,
    new_event_id,
    pipeline_settings,
    processed_event,
    produce,
    read_to_end,
    running,
    wait_until_done,
)

pytestmark = pytest.mark.integration

PROJECT = 3
RELEASE = "shop@1.0.0"


def normalized(payload: dict[str, Any], received_at_ms: int) -> dict[str, Any]:
    return processed_event(PROJECT, payload, received_at_ms)


def demo_settings(bootstrap: str, prefix: str, tmp_path: Path) -> Settings:
    """Settings whose artifact store holds the demo shop's release."""
    settings = pipeline_settings(bootstrap, prefix, tmp_path)
    upload_demo_artifacts(
        ArtifactStore(settings.symbolicate.artifacts_dir), project_id=PROJECT, release=RELEASE
    )
    return settings


def test_demo_frames_map_to_their_original_source(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    settings = demo_settings(kafka_bootstrap, prefix, tmp_path)
    kafka = settings.kafka
    codec = make_codec(kafka)
    in_topic = kafka.topic("events.normalized")
    received = wall_ms() - 2_000
    scenarios = {s["name"]: s for s in demo_scenarios()}
    inputs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for scenario in scenarios.values():
        event = normalized(js_payload(scenario, RELEASE), received)
        inputs[event["event_id"]] = (event, scenario)
    unknown_release = normalized(js_payload(next(iter(scenarios.values())), "shop@0.9"), received)
    plain = normalized({"message": "disk full", "platform": "python"}, received)
    undecodable = new_event_id()
    records = [as_record(codec, in_topic, event) for event, _ in inputs.values()]
    records += [as_record(codec, in_topic, e) for e in (unknown_release, plain)]
    records.append(Produce(in_topic, b"\x00garbage", key=undecodable.encode()))
    produce(kafka_bootstrap, records)

    spec = symbolicate_stage(settings)
    with running((spec, settings)):
        wait_until_done(kafka_bootstrap, spec)

    out = read_to_end(kafka_bootstrap, kafka.topic("events.symbolicated"))
    events = {e["event_id"]: e for e in decode_all(codec, "processed_event", out)}
    assert set(events) == {*inputs, unknown_release["event_id"], plain["event_id"]}
    for record in out:
        assert record.header(RECEIVED_AT_HEADER) == str(received).encode()
    for event_id, (before, scenario) in inputs.items():
        after = events[event_id]
        assert mapped_frames(after) == expected_frames(scenario), scenario["name"]
        assert all(f["symbolication"] == "ok" for f in after["exceptions"][-1]["frames"])
        assert after["grouping_hash"] == grouping_hash_of(after) != before["grouping_hash"]
        assert set(after["stage_times_ms"]) == {"normalize", "symbolicate"}

    kept = events[unknown_release["event_id"]]
    assert [f["abs_path"] for f in kept["exceptions"][-1]["frames"]] == [
        f["abs_path"] for f in unknown_release["exceptions"][-1]["frames"]
    ]
    assert all(f["symbolication"] not in (None, "ok") for f in kept["exceptions"][-1]["frames"])
    assert any(error["stage"] == "symbolicate" for error in kept["errors"])
    assert events[plain["event_id"]]["exceptions"] == plain["exceptions"]

    outcomes = decode_all(codec, "outcome", read_to_end(kafka_bootstrap, kafka.topic("outcomes")))
    assert [(o["outcome"], o["event_id"], o["reason"], o["stage"]) for o in outcomes] == [
        ("invalid", undecodable, "undecodable", "symbolicate")
    ]
    (dead,) = read_to_end(kafka_bootstrap, kafka.topic("events.normalized.dlq"))
    assert dead.value == b"\x00garbage"
    assert dead.header("dlq.stage") == b"symbolicate"


def test_an_event_marked_without_minified_frames_passes_on_undecoded(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    """Normalize's mark is trusted: "0" skips decoding (even of a JavaScript event, which is
    then left as it is), "1" or no mark symbolicates."""
    settings = demo_settings(kafka_bootstrap, prefix, tmp_path)
    kafka = settings.kafka
    codec = make_codec(kafka)
    in_topic = kafka.topic("events.normalized")
    received = wall_ms() - 2_000
    scenario = demo_scenarios()[0]
    marked = {
        mark: normalized(js_payload(scenario, RELEASE), received) for mark in (b"0", b"1", None)
    }
    records = []
    for mark, event in marked.items():
        record = as_record(codec, in_topic, event)
        if mark is not None:
            record.headers = [*record.headers, (MINIFIED_FRAMES_HEADER, mark)]
        records.append(record)
    produce(kafka_bootstrap, records)

    spec = symbolicate_stage(settings)
    started = wall_ms()
    with running((spec, settings)):
        wait_until_done(kafka_bootstrap, spec)

    out = {r.key: r for r in read_to_end(kafka_bootstrap, kafka.topic("events.symbolicated"))}
    assert len(out) == 3
    inputs = {r.key: r for r in records}
    passed = out[marked[b"0"]["event_id"].encode()]
    assert passed.value == inputs[passed.key].value
    assert passed.header(RECEIVED_AT_HEADER) == str(received).encode()
    stage_time = passed.header("stage_time_ms.symbolicate")
    assert stage_time is not None and int(stage_time) >= started
    for mark in (b"1", None):
        event_id = marked[mark]["event_id"]
        (after,) = decode_all(codec, "processed_event", [out[event_id.encode()]])
        assert mapped_frames(after) == expected_frames(scenario)
        assert out[event_id.encode()].header("stage_time_ms.symbolicate") is None
