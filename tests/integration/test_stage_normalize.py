"""The normalize stage alone on a real broker: raw events in, normalized events, outcomes and
dead letters out, in both execution modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.adapters.kafka.codec import make_codec
from pipeline.runtime.messages import RECEIVED_AT_HEADER, Produce
from pipeline.runtime.stage import ExecutionMode
from pipeline.stages.normalize.settings import DropRule, NormalizeSettings
from pipeline.stages.normalize.stage import normalize_stage
from pipeline.stages.outcomes import wall_ms
from pipeline.stages.passthrough import MINIFIED_FRAMES_HEADER
from tests.support.pipeline import (
    FAST_RUNTIME,
    decode_all,
    new_event_id,
    pipeline_settings,
    produce,
    raw_event,
    read_to_end,
    running,
    wait_until_done,
)

pytestmark = pytest.mark.integration

PROJECT = 7
UNDECODABLE = b"definitely not avro"


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_raw_events_become_normalized_events_and_outcomes(
    kafka_bootstrap: str,
    prefix: str,
    tmp_path: Path,
    mode: ExecutionMode,
) -> None:
    normalize = NormalizeSettings(
        mode=mode, drop_rules=(DropRule(name="legacy_sdk", sdk_name="legacy.*"),)
    )
    settings = pipeline_settings(
        kafka_bootstrap,
        prefix,
        tmp_path,
        normalize=normalize,
        runtime=FAST_RUNTIME.model_copy(update={"workers": 2}),
    )
    kafka = settings.kafka
    codec = make_codec(kafka)
    raw_topic = kafka.topic("events.raw")
    received = wall_ms() - 1_000
    good = {new_event_id(): f"checkout failed {n}" for n in range(6)}
    filtered, invalid, undecodable = new_event_id(), new_event_id(), new_event_id()

    def raw(event_id: str, payload: bytes) -> Produce:
        return raw_event(
            codec,
            raw_topic,
            event_id=event_id,
            project_id=PROJECT,
            payload=payload,
            received_at_ms=received,
        )

    records = [
        raw(event_id, json.dumps({"message": text, "extra": {"password": "hunter2"}}).encode())
        for event_id, text in good.items()
    ]
    records += [
        raw(filtered, json.dumps({"message": "m", "sdk": {"name": "legacy.js"}}).encode()),
        raw(invalid, b"{not json"),
        Produce(raw_topic, UNDECODABLE, key=undecodable.encode()),
    ]
    produce(kafka_bootstrap, records)

    spec = normalize_stage(settings)
    assert spec.mode == mode
    with running((spec, settings)):
        wait_until_done(kafka_bootstrap, spec)

    out = read_to_end(kafka_bootstrap, kafka.topic("events.normalized"))
    events = decode_all(codec, "processed_event", out)
    assert sorted(e["event_id"] for e in events) == sorted(good)
    for record, event in zip(out, events, strict=True):
        assert record.key == event["event_id"].encode()
        assert record.header(RECEIVED_AT_HEADER) == str(received).encode()
        assert record.header(MINIFIED_FRAMES_HEADER) == b"0"  # a message has no frames
        assert event["received_at_ms"] == received
        assert event["message"] == good[event["event_id"]]
        assert event["stage_times_ms"]["normalize"] >= received
        assert "hunter2" not in event["extra_json"]

    outcome_records = read_to_end(kafka_bootstrap, kafka.topic("outcomes"))
    outcomes = decode_all(codec, "outcome", outcome_records)
    assert sorted(
        (o["outcome"], o["event_id"], o["project_id"], o["reason"], o["stage"]) for o in outcomes
    ) == sorted(
        [
            ("filtered", filtered, PROJECT, "legacy_sdk", "normalize"),
            ("invalid", invalid, PROJECT, "not_json", "normalize"),
            ("invalid", undecodable, 0, "undecodable", "normalize"),
        ]
    )
    for record, outcome in zip(outcome_records, outcomes, strict=True):
        assert record.key == str(outcome["project_id"]).encode()
        assert outcome["timestamp_ms"] >= received

    (dead,) = read_to_end(kafka_bootstrap, kafka.topic("events.raw.dlq"))
    assert dead.value == UNDECODABLE
    assert dead.key == undecodable.encode()
    assert dead.header("dlq.stage") == b"normalize"
    assert dead.header("dlq.origin.topic") == raw_topic.encode()
    assert (dead.header("dlq.error") or b"").startswith(b"DecodeError")
