"""Backlog slicing and draining against a real broker: the live slicer, the outage scenario,
kill -9 of the drain, ranges expired by retention, and `pipeline backlog`.

Every test counts what went in and what came out; "at least once" means every id is in the
output, and duplicates are bounded where the design bounds them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import typer
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs
from typer.testing import CliRunner

from pipeline.adapters.kafka.codec import make_codec
from pipeline.backlog.ledger import LedgerReader, LedgerWriter
from pipeline.backlog.ledger_state import LedgerState
from pipeline.backlog.ranges import BacklogRange
from pipeline.backlog.status import open_ranges
from pipeline.cli.backlog import backlog as backlog_command
from pipeline.config import PROJECT_ROOT, BacklogSettings, KafkaSettings, RuntimeSettings, Settings
from pipeline.observability.logs import configure_logging
from pipeline.runtime.runner import Drain, build_drain
from tests.support.runtime import (
    FAST_RUNTIME,
    PIPELINE_BIN,
    ScriptedTopics,
    Sent,
    StageThread,
    SteadyProducer,
    TopicReader,
    committed_offsets,
    holds_for,
    numbered,
    produce,
    scripted_topics,
    set_group_offsets,
    stage_env,
    wait_for,
)
from tests.support.stages import scripted_spec

pytestmark = pytest.mark.integration

LEDGER = "pipeline.backlog"
STAGE = "scripted"
FAST_BACKLOG: dict[str, Any] = {
    "stale_after_s": 0.5,
    "min_slice_messages": 50,
    "progress_interval_s": 0.2,
    "refresh_interval_s": 0.5,
    "live_check_interval_s": 0.2,
    "ledger_timeout_s": 10.0,
}
SLOW_RUNTIME: dict[str, Any] = {
    "workers": 2,
    "max_in_flight_per_partition": 20,
    "max_in_flight": 40,
}
"""About 200 msg/s on `sleep:0.01` values: slow enough to slice and kill mid-range."""


@pytest.fixture
def group() -> str:
    return f"bl-{uuid.uuid4().hex}"


def topics_with_ledger(
    admin: AdminClient, partitions: int
) -> AbstractContextManager[ScriptedTopics]:
    return scripted_topics(admin, partitions=partitions, extra=[LEDGER])


def settings_for(
    bootstrap: str, topics: ScriptedTopics, backlog: dict[str, Any], **runtime: Any
) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=topics.prefix),
        runtime=RuntimeSettings(**{**FAST_RUNTIME, **runtime}),
        backlog=BacklogSettings(**{**FAST_BACKLOG, **backlog}),
    )


def read_ledger(settings: Settings) -> list[BacklogRange]:
    """The open ranges, read from the beginning by a reader of its own."""
    topic = settings.kafka.topic(LEDGER)
    state = LedgerState()
    bootstrap = {"bootstrap.servers": settings.kafka.bootstrap_servers}
    reader = LedgerReader(bootstrap, topic, make_codec(settings.kafka), state, 30.0)
    try:
        reader.catch_up(30.0)
    finally:
        reader.close()
    return sorted(state.open_ranges(), key=lambda r: (r.partition, r.origin_start))


def slice_by_hand(
    settings: Settings, admin: AdminClient, group: str, topics: ScriptedTopics, sent: list[Sent]
) -> list[BacklogRange]:
    """Ranges over everything sent, as the slicer would write them; the live group is at the
    end, so the drain is not held back by it."""
    ends = [max((s.offset + 1 for s in sent if s.partition == p), default=0) for p in range(2)]
    now = time.time_ns() // 1_000_000
    ranges = [
        BacklogRange(STAGE, group, topics.input, p, 0, 0, end, now, now)
        for p, end in enumerate(ends)
        if end
    ]
    bootstrap = {"bootstrap.servers": settings.kafka.bootstrap_servers}
    writer = LedgerWriter(bootstrap, topics.named(LEDGER), make_codec(settings.kafka), 10.0)
    writer.put(ranges)
    set_group_offsets(admin, group, topics.input, [r.end for r in ranges])
    return ranges


def progressed(ranges: Sequence[BacklogRange], at_least: int) -> bool:
    """Both ranges still open, ``at_least`` of their messages recorded as drained."""
    return len(ranges) == 2 and sum(r.start - r.origin_start for r in ranges) >= at_least


def covered(sent: Sent, ranges: Sequence[BacklogRange]) -> bool:
    return any(
        r.partition == sent.partition and r.origin_start <= sent.offset < r.end for r in ranges
    )


def let_age(seconds: float) -> None:
    """Until messages produced before the call are older than the live stage's stale limit."""
    produced_by = time.monotonic()
    wait_for(lambda: time.monotonic() - produced_by > seconds, f"messages {seconds}s old")


class DrainThread:
    """The backlog drain of the scripted stage on a thread of the test process."""

    def __init__(self, settings: Settings, group: str) -> None:
        self.registry = CollectorRegistry()
        self.drain: Drain = build_drain(scripted_spec(settings, group), settings, self.registry)
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, name="drain", daemon=True)

    def _run(self) -> None:
        self.exit_code = self.drain.run()

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"stage": STAGE, **labels}) or 0.0

    def __enter__(self) -> DrainThread:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.drain.runtime.request_stop()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the drain did not stop"
        assert self.exit_code == 0


def drain_process(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PIPELINE_BIN), "run", "tests.support.stages:scripted_stage", "--backlog"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )


def backlog_env(
    bootstrap: str, topics: ScriptedTopics, group: str, backlog: dict[str, Any]
) -> dict[str, str]:
    env = stage_env(bootstrap, topics, group, **SLOW_RUNTIME)
    for key, value in {**FAST_BACKLOG, **backlog}.items():
        env[f"PIPELINE_BACKLOG__{key.upper()}"] = str(value)
    return env


# ----- the live slicer ----------------------------------------------------------------------


def test_live_slicer_records_the_backlog_commits_its_end_and_serves_fresh_events(
    kafka_bootstrap: str, admin: AdminClient, group: str
) -> None:
    with topics_with_ledger(admin, partitions=2) as topics:
        settings = settings_for(kafka_bootstrap, topics, {}, **SLOW_RUNTIME)
        old = produce(kafka_bootstrap, topics.input, numbered("sleep:0.01", "b", 1200, [0, 1]))
        let_age(1.0)
        with (
            TopicReader(kafka_bootstrap, topics.output) as reader,
            StageThread(scripted_spec(settings, group), settings) as live,
        ):
            wait_for(
                lambda: live.metric("pipeline_backlog_sliced_ranges_total") >= 2,
                "a slice of both partitions",
            )
            fresh = produce(kafka_bootstrap, topics.input, numbered("fresh", "f", 40, [0, 1]))
            reader.wait_for_ids(s.id for s in fresh)
            ranges = read_ledger(settings)
            processed = reader.ids()
            live_committed = committed_offsets(kafka_bootstrap, group, topics.input, 2)

    assert [r.partition for r in ranges] == [0, 1]
    for rng in ranges:
        assert rng.start == rng.origin_start < rng.end  # nobody drained it
        assert rng.group == group and rng.stage == STAGE and rng.topic == topics.input
        assert live_committed[rng.partition] >= rng.end
        assert all(s.offset >= rng.end for s in fresh if s.partition == rng.partition)
    skipped = [s for s in old if s.id not in processed]
    assert skipped, "the live consumer worked the whole backlog off: nothing was sliced"
    assert all(covered(s, ranges) for s in skipped), "a skipped message is in no range"
    sliced = live.metric("pipeline_backlog_sliced_messages_total")
    assert sliced == sum(r.size for r in ranges)


def test_without_a_ledger_the_live_consumer_skips_nothing(
    kafka_bootstrap: str, admin: AdminClient, group: str
) -> None:
    with scripted_topics(admin, partitions=1) as topics:  # no ledger topic
        settings = settings_for(kafka_bootstrap, topics, {}, **SLOW_RUNTIME)
        old = produce(kafka_bootstrap, topics.input, numbered("sleep:0.01", "b", 300, [0]))
        let_age(1.0)
        with (
            TopicReader(kafka_bootstrap, topics.output) as reader,
            StageThread(scripted_spec(settings, group), settings) as live,
        ):
            reader.wait_for_ids(s.id for s in old)
            failures = live.metric("pipeline_backlog_ledger_write_failures_total")
            sliced = live.metric("pipeline_backlog_sliced_ranges_total")
        assert (
            admin.list_topics(topics.named(LEDGER), timeout=10).topics[topics.named(LEDGER)].error
        ), "the slicer created the ledger topic"
    assert failures >= 1 and sliced == 0


# ----- the outage scenario ------------------------------------------------------------------


def test_after_an_outage_fresh_events_overtake_the_backlog_and_nothing_is_lost(
    kafka_bootstrap: str, admin: AdminClient, group: str
) -> None:
    backlog = {"drain_max_rate": 120, "live_max_lag": 200}
    with topics_with_ledger(admin, partitions=2) as topics:
        settings = settings_for(kafka_bootstrap, topics, backlog, **SLOW_RUNTIME)
        old = produce(kafka_bootstrap, topics.input, numbered("sleep:0.01", "b", 600, [0, 1]))
        let_age(1.0)
        with TopicReader(kafka_bootstrap, topics.output) as reader, capture_logs() as logs:
            with (
                StageThread(scripted_spec(settings, group), settings) as live,
                DrainThread(settings, group) as drain,
            ):
                # Fresh events start once the live stage has jumped past the backlog on both
                # partitions: those are the ones that must not wait for it.
                wait_for(
                    lambda: live.metric("pipeline_backlog_sliced_ranges_total") >= 2,
                    "the live stage to slice the backlog off both partitions",
                )
                fresh = SteadyProducer(
                    kafka_bootstrap, topics.input, numbered("fresh", "f", 50, [0, 1]), rate_per_s=25
                ).join()
                reader.wait_for_ids([s.id for s in old + fresh], timeout_s=90)
                wait_for(lambda: not read_ledger(settings), "every range tombstoned", 30)
                sliced = live.metric("pipeline_backlog_sliced_ranges_total")
                drained = drain.metric("pipeline_backlog_drained_ranges_total")
            output = reader.records()

    assert sliced >= 2 and drained == sliced
    slice_end = {e["partition"]: e["end"] for e in logs if e["event"] == "backlog.sliced"}
    assert sorted(slice_end) == [0, 1]
    first_seen: dict[str, int] = {}
    for record in output:  # one output partition: its offsets are the arrival order
        first_seen.setdefault(record.id, record.offset)
    assert {s.id for s in old + fresh} <= set(first_seen)
    last_backlog = max(first_seen[s.id] for s in old)
    after_slice = [s for s in fresh if s.offset >= slice_end[s.partition]]
    assert after_slice, "no fresh event was produced after the slice"
    late = [s.id for s in after_slice if first_seen[s.id] > last_backlog]
    assert not late, f"fresh events {late} waited for the backlog"


def test_the_drain_waits_while_the_live_group_is_behind(
    kafka_bootstrap: str, admin: AdminClient, group: str
) -> None:
    with topics_with_ledger(admin, partitions=2) as topics:
        settings = settings_for(kafka_bootstrap, topics, {"live_max_lag": 50})
        old = produce(kafka_bootstrap, topics.input, numbered("plain", "b", 200, [0, 1]))
        ranges = slice_by_hand(settings, admin, group, topics, old)
        set_group_offsets(admin, group, topics.input, [0, 0])  # live 200 behind
        with (
            TopicReader(kafka_bootstrap, topics.output) as reader,
            DrainThread(settings, group) as drain,
        ):
            wait_for(
                lambda: drain.metric("pipeline_pauses_total", reason="live_behind"),
                "the drain to yield to the live group",
            )
            holds_for(lambda: not reader.ids(), "the drain worked while live was behind", 1.0)
            set_group_offsets(admin, group, topics.input, [r.end for r in ranges])
            reader.wait_for_ids(s.id for s in old)


# ----- kill -9 of the drain -----------------------------------------------------------------


def test_a_drain_killed_mid_range_resumes_from_its_recorded_progress(
    kafka_bootstrap: str, admin: AdminClient, group: str, tmp_path: Path
) -> None:
    with topics_with_ledger(admin, partitions=2) as topics:
        settings = settings_for(kafka_bootstrap, topics, {})
        old = produce(kafka_bootstrap, topics.input, numbered("sleep:0.01", "b", 600, [0, 1]))
        slice_by_hand(settings, admin, group, topics, old)
        env = backlog_env(kafka_bootstrap, topics, group, {})
        log_path = tmp_path / "drain.log"
        with TopicReader(kafka_bootstrap, topics.output) as reader:
            first = drain_process(env, log_path)
            try:
                wait_for(
                    lambda: progressed(read_ledger(settings), 150),
                    lambda: f"recorded progress:\n{log_path.read_text()[-3000:]}",
                    interval_s=0.2,
                )
            finally:
                first.kill()  # SIGKILL: no final commit, no flush
                first.wait(30)
            recorded = {r.partition: r.start for r in read_ledger(settings)}
            second = drain_process(env, log_path)
            try:
                reader.wait_for_ids([s.id for s in old], timeout_s=60)
                wait_for(lambda: not read_ledger(settings), "both ranges tombstoned", 30)
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(30) == 0
            counts = Counter(r.id for r in reader.records())

    assert len(recorded) == 2 and sum(recorded.values()) >= 150
    before = [s for s in old if s.offset < recorded[s.partition]]
    assert all(counts[s.id] == 1 for s in before), "work below the recorded progress was redone"
    again = [s for s in old if counts[s.id] > 1]
    # Redone: what finished after the last progress record, bounded by one progress interval
    # of work (about 200 msg/s x 0.2 s) plus the in-flight cap (40); not the recorded part.
    assert len(again) <= 100 < len(before)


# ----- expired ranges -----------------------------------------------------------------------


def test_a_range_partly_expired_before_draining_is_reported_and_the_rest_drained(
    kafka_bootstrap: str, admin: AdminClient, group: str
) -> None:
    with topics_with_ledger(admin, partitions=2) as topics:
        settings = settings_for(kafka_bootstrap, topics, {})
        old = produce(kafka_bootstrap, topics.input, numbered("plain", "b", 400, [0, 1]))
        slice_by_hand(settings, admin, group, topics, old)
        deleted = admin.delete_records([TopicPartition(topics.input, 0, 120)])
        for future in deleted.values():
            future.result(timeout=30)
        (listed,) = [r for r in open_ranges(settings, 30.0) if r.range.partition == 0]
        assert listed.expired == 120 and listed.low_watermark == 120

        with (
            TopicReader(kafka_bootstrap, topics.output) as reader,
            capture_logs() as logs,
            DrainThread(settings, group) as drain,
        ):
            kept = [s for s in old if s.partition == 1 or s.offset >= 120]
            reader.wait_for_ids(s.id for s in kept)
            wait_for(lambda: not read_ledger(settings), "both ranges tombstoned")
            expired_metric = drain.metric("pipeline_backlog_expired_messages_total")
            processed = reader.ids()

    assert expired_metric == 120
    gone = {s.id for s in old} - {s.id for s in kept}
    assert len(gone) == 120 and not gone & processed
    (event,) = [e for e in logs if e["event"] == "backlog.expired"]
    assert (event["partition"], event["expired"], event["low_watermark"]) == (0, 120, 120)


def test_data_expiring_while_the_drain_works_is_reported_never_skipped_silently(
    kafka_bootstrap: str, admin: AdminClient, group: str
) -> None:
    """Every offset of the range is either processed or counted as expired."""
    with topics_with_ledger(admin, partitions=2) as topics:
        settings = settings_for(kafka_bootstrap, topics, {"drain_max_rate": 50}, **SLOW_RUNTIME)
        old = produce(kafka_bootstrap, topics.input, numbered("sleep:0.01", "b", 300, [0]))
        slice_by_hand(settings, admin, group, topics, old)
        with (
            TopicReader(kafka_bootstrap, topics.output) as reader,
            DrainThread(settings, group) as drain,
        ):
            wait_for(lambda: len(reader.ids()) >= 20, "the drain under way")
            for future in admin.delete_records([TopicPartition(topics.input, 0, 250)]).values():
                future.result(timeout=30)
            wait_for(lambda: not read_ledger(settings), "the range tombstoned", 60)
            expired = drain.metric("pipeline_backlog_expired_messages_total")
            processed = {s.id for s in old} & reader.ids()

    assert {s.id for s in old if s.offset >= 250} <= processed
    assert expired > 0, "the deletion came too late to test anything"
    assert len(processed) + expired == len(old)


# ----- `pipeline backlog` -------------------------------------------------------------------


def test_pipeline_backlog_lists_open_ranges_with_size_and_progress(
    kafka_bootstrap: str, admin: AdminClient, group: str
) -> None:
    app = typer.Typer()
    app.command()(backlog_command)
    configure_logging("warning", "json")  # logs to stderr, so stdout is the listing alone
    with topics_with_ledger(admin, partitions=2) as topics:
        settings = settings_for(kafka_bootstrap, topics, {})
        old = produce(kafka_bootstrap, topics.input, numbered("plain", "b", 400, [0, 1]))
        first, second = slice_by_hand(settings, admin, group, topics, old)
        writer = LedgerWriter(
            {"bootstrap.servers": kafka_bootstrap},
            topics.named(LEDGER),
            make_codec(settings.kafka),
            10.0,
        )
        writer.put([first.advanced(50, first.updated_at_ms)])
        runner = CliRunner()
        listed = runner.invoke(app, ["--json"], obj=settings)
        table = runner.invoke(app, [], obj=settings, env={"COLUMNS": "200"})
        writer.tombstone([first, second])
        empty = runner.invoke(app, [], obj=settings)

    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["partition"], r["size"], r["remaining"], r["progress"]) for r in rows] == [
        (0, 200, 150, 0.25),
        (1, 200, 200, 0.0),
    ]
    assert all(r["group"] == group and r["expired"] == 0 for r in rows)
    assert table.exit_code == 0 and f"{topics.input}[0]" in table.stdout
    assert "2 range(s), 350 message(s) to drain." in table.stdout
    assert "No open backlog ranges" in empty.stdout
