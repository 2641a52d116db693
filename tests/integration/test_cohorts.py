"""Cohorts on a real broker with the real stages: counts per stage and outcome, a cohort stuck
at a stopped store with its age, the catch-up, and nothing counted twice after a restart or a
replay.

The store stops for ``PIPELINE_COHORT_TEST_STOP_S`` seconds (12 by default, with 5-second
cohorts; the issue's three minutes: ``PIPELINE_COHORT_TEST_STOP_S=180``) while events flow.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.kafka.codec import make_codec
from pipeline.cohorts.counts import FORWARDED, STORED
from pipeline.cohorts.read import read_snapshot
from pipeline.cohorts.snapshot import CohortSnapshot
from pipeline.config import Settings
from pipeline.replay import replay_range
from pipeline.runtime.messages import Produce
from pipeline.runtime.stage import StageSpec
from pipeline.stages.normalize import DropRule, NormalizeSettings
from pipeline.stages.outcomes import wall_ms
from pipeline.stages.registry import resolve_stage
from tests.support.pipeline import (
    RunningStage,
    new_event_id,
    pipeline_settings,
    produce,
    raw_event,
    wait_for,
    wait_until_done,
)

pytestmark = pytest.mark.integration

WIDTH_S = 5
STUCK_AFTER_S = 2.0
STOP_S = float(os.environ.get("PIPELINE_COHORT_TEST_STOP_S", "12"))
PROJECT = 7
BLOCKED_SDK = "blocked.python"
STAGES = ("normalize", "symbolicate", "store")


def totals(snapshot: CohortSnapshot, stage: str) -> Counter[str]:
    """One stage's cells summed over every cohort."""
    total: Counter[str] = Counter()
    for cohort in snapshot.cohorts:
        cell = cohort.stages[stage].to_json()
        total.update({"in": cell["in"], "replayed": cell["replayed"], **cell["out"]})
        total.update({"in_flight": cell["in_flight"], "pending": cell["pending"]})
    return +total


def settled(settings: Settings, expected: dict[str, dict[str, int]]) -> CohortSnapshot:
    """Waits until the published totals are ``expected`` (summaries follow each commit)."""
    seen: list[CohortSnapshot] = []

    def matches() -> bool:
        seen[:] = [read_snapshot(settings, timeout_s=10)]
        return all(totals(seen[0], stage) == Counter(want) for stage, want in expected.items())

    try:
        wait_for(matches, "cohort totals", timeout_s=30, interval_s=0.5)
    except AssertionError:
        got = {stage: dict(totals(seen[0], stage)) for stage in expected} if seen else None
        raise AssertionError(f"cohort totals never became {expected}; last seen {got}") from None
    return seen[0]


def test_cohorts_count_every_stage_show_a_stopped_store_and_catch_up(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    normalize = NormalizeSettings(drop_rules=(DropRule(name="blocked_sdk", sdk_name=BLOCKED_SDK),))
    cohorts = {"width_s": WIDTH_S, "stuck_after_s": STUCK_AFTER_S, "publish_interval_s": 0.5}
    settings = pipeline_settings(
        kafka_bootstrap, prefix, tmp_path, normalize=normalize, cohorts=cohorts
    )
    codec = make_codec(settings.kafka)
    raw_topic = settings.kafka.topic("events.raw")

    def raw(payload: dict[str, Any] | bytes, received_at_ms: int | None = None) -> Produce:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return raw_event(
            codec,
            raw_topic,
            event_id=new_event_id(),
            project_id=PROJECT,
            payload=body,
            received_at_ms=received_at_ms or wall_ms(),
        )

    specs = {name: resolve_stage(name, settings) for name in STAGES}
    stages = {name: RunningStage(spec, settings) for name, spec in specs.items()}
    for stage in stages.values():
        stage.start()
    try:
        # Every outcome once: 30 stored, 3 filtered, 2 invalid (not JSON), 2 dead-lettered.
        records = [raw({"message": f"job {n} failed"}) for n in range(30)]
        records += [raw({"message": "m", "sdk": {"name": BLOCKED_SDK}}) for _ in range(3)]
        records += [raw(b'{"message": "cut off') for _ in range(2)]
        records += [Produce(raw_topic, b"\xc3\x01garbage", key=b"x") for _ in range(2)]
        produce(kafka_bootstrap, records)
        done_all(kafka_bootstrap, specs.values())
        first = {
            "normalize": {"in": 37, "forwarded": 30, "filtered": 3, "invalid": 2},
            "symbolicate": {"in": 30, "forwarded": 30},
            "store": {"in": 30, "stored": 30},
        }
        first["normalize"]["dead_lettered"] = 2
        settled(settings, first)

        # The store stops while events keep coming: their cohorts pile up before it.
        assert stages["store"].stop() == 0
        sent: Counter[int] = Counter()
        stop_began = time.monotonic()
        while time.monotonic() - stop_began < STOP_S:
            now = wall_ms()
            produce(kafka_bootstrap, [raw({"message": "during the outage"}, now)])
            sent[now // (WIDTH_S * 1000) * WIDTH_S * 1000] += 1
            time.sleep(0.1)
        done_all(kafka_bootstrap, [specs["normalize"], specs["symbolicate"]])
        total_sent = sum(sent.values())
        stuck = settled(
            settings,
            {
                "symbolicate": {"in": 30 + total_sent, "forwarded": 30 + total_sent},
                "store": {"in": 30, "stored": 30, "pending": total_sent},
            },
        )
        by_start = {c.start_ms: c for c in stuck.cohorts}
        for start, count in sent.items():
            cohort = by_start[start]
            store, symbolicate = cohort.stages["store"], cohort.stages["symbolicate"]
            assert store.pending == count  # phase one's events may share the cohort: stored
            assert symbolicate.out[FORWARDED] == count + store.out[STORED]
            # Closed long enough when the snapshot was made (not now: that is later).
            if (stuck.generated_at_ms - start) / 1000 > WIDTH_S + STUCK_AFTER_S:
                assert cohort.stuck_at == "store", cohort.to_json()
        age = stuck.oldest_unprocessed_age_s["store"]
        assert age is not None and STOP_S - 1 <= age <= STOP_S + 60, age
        assert stuck.oldest_unprocessed_age_s["normalize"] is None

        # The store comes back: it carries on from its committed counts, none twice.
        stages["store"] = RunningStage(specs["store"], settings)
        stages["store"].start()
        wait_until_done(kafka_bootstrap, specs["store"], timeout_s=40)
        caught_up = settled(settings, {"store": {"in": 30 + total_sent, "stored": 30 + total_sent}})
        assert all(c.stuck_at is None for c in caught_up.cohorts)
        assert caught_up.oldest_unprocessed_age_s["store"] is None

        # A replay of everything raw is counted apart: first passes stay as they were.
        summary = replay_range({"bootstrap.servers": kafka_bootstrap}, raw_topic, raw_topic)
        assert summary.written == 37 + total_sent
        done_all(kafka_bootstrap, specs.values())
        final = {
            "normalize": {**first["normalize"], "replayed": 37 + total_sent},
            "store": {"in": 30 + total_sent, "stored": 30 + total_sent},
        }
        final["normalize"]["in"] += total_sent
        final["normalize"]["forwarded"] += total_sent
        final["store"]["replayed"] = 30 + total_sent
        settled(settings, final)
    finally:
        codes = {name: stage.stop() for name, stage in stages.items()}
    assert all(code == 0 for code in codes.values()), codes


def done_all(bootstrap: str, specs: Any) -> None:
    for spec in specs:  # in pipeline order: each input is complete once the one before is
        assert isinstance(spec, StageSpec)
        wait_until_done(bootstrap, spec, timeout_s=40)
