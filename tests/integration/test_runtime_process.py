"""`pipeline run` as a real process: kill -9 and restart, SIGTERM, a second signal, the HTTP port,
the failure-ratio halt, and the same results in every execution mode (and for a coroutine process
function) and group protocol."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.runtime import (
    GroupProtocol,
    ScriptedTopics,
    StageProcess,
    TopicReader,
    all_committed,
    committed_offsets,
    end_offsets,
    numbered,
    produce,
    scripted_topics,
    stage_env,
    wait_for,
)
from tests.support.stages import Flavour

pytestmark = pytest.mark.integration

PARTITIONS = 3
EVERY_PARTITION = list(range(PARTITIONS))


@pytest.fixture
def topics(admin: AdminClient) -> Iterator[ScriptedTopics]:
    with scripted_topics(admin, partitions=PARTITIONS) as created:
        yield created


@pytest.fixture
def group() -> str:
    return f"rt-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("protocol", "mode"),
    [
        ("consumer", "threads"),
        ("classic", "threads"),
        ("consumer", "processes"),
        ("consumer", "coroutine"),
    ],
)
def test_every_mode_and_group_protocol_gives_the_same_results(
    kafka_bootstrap: str,
    topics: ScriptedTopics,
    group: str,
    tmp_path: Path,
    protocol: GroupProtocol,
    mode: Flavour,
) -> None:
    messages = [
        *numbered("plain", "plain", 12, EVERY_PARTITION),
        *numbered("cpu:20000", "cpu", 6, EVERY_PARTITION),
        *numbered("sleep:0.05", "sleep", 6, EVERY_PARTITION),
        *numbered("flaky:2", "flaky", 6, EVERY_PARTITION),
        *numbered("poison", "poison", 3, EVERY_PARTITION),
    ]
    sent = produce(kafka_bootstrap, topics.input, messages)
    good = [s for s in sent if not s.value.startswith(b"poison:")]
    poison = [s for s in sent if s.value.startswith(b"poison:")]
    env = stage_env(
        kafka_bootstrap,
        topics,
        group,
        mode=mode,
        protocol=protocol,
        workers=2 if mode == "processes" else 8,
    )
    with (
        TopicReader(kafka_bootstrap, topics.output) as output,
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        StageProcess(env, tmp_path / "stage.log") as stage,
    ):
        output.wait_for_ids(s.id for s in good)
        dlq.wait_for_ids(s.id for s in poison)
        wait_for(
            lambda: all_committed(kafka_bootstrap, group, topics.input),
            "every offset to be committed",
        )
        failed = stage.metric("pipeline_failed_messages_total")
        stage.send(signal.SIGTERM)
        assert stage.wait() == 0
    # Flaky messages were retried in place; in a run without failures nothing comes out twice.
    assert sorted(r.value for r in output.records()) == sorted(s.value for s in good)
    assert sorted(r.id for r in dlq.records()) == sorted(s.id for s in poison)
    assert {r.headers["dlq.attempts"] for r in dlq.records()} == {b"1"}
    assert failed == len(poison)


def test_kill_9_mid_stream_then_restart_loses_nothing(
    kafka_bootstrap: str, topics: ScriptedTopics, group: str, tmp_path: Path
) -> None:
    sent = produce(kafka_bootstrap, topics.input, numbered("sleep:0.05", "k", 300, EVERY_PARTITION))
    env = stage_env(kafka_bootstrap, topics, group, workers=4)
    with TopicReader(kafka_bootstrap, topics.output) as output:
        with StageProcess(env, tmp_path / "killed.log") as first:
            wait_for(
                lambda: (
                    len(output.records()) >= 60
                    and sum(
                        max(0, c)
                        for c in committed_offsets(kafka_bootstrap, group, topics.input, 3)
                    )
                ),
                "output and commits before the kill",
            )
            first.proc.kill()
            assert first.wait() == -signal.SIGKILL
        assert len(output.ids()) < len(sent), "the stage finished before it was killed"
        with StageProcess(env, tmp_path / "restarted.log") as second:
            output.wait_for_ids({s.id for s in sent}, timeout_s=45)
            wait_for(
                lambda: all_committed(kafka_bootstrap, group, topics.input),
                "every offset to be committed",
            )
            second.send(signal.SIGTERM)
            assert second.wait() == 0


def test_sigterm_finishes_in_flight_work_commits_and_exits_0(
    kafka_bootstrap: str, admin: AdminClient, topics: ScriptedTopics, group: str, tmp_path: Path
) -> None:
    env = stage_env(kafka_bootstrap, topics, group, workers=32)
    with (
        TopicReader(kafka_bootstrap, topics.output) as output,
        StageProcess(env, tmp_path / "stage.log") as stage,
    ):
        stage.wait_ready()
        sent = produce(kafka_bootstrap, topics.input, numbered("sleep:3", "t", 20, EVERY_PARTITION))
        wait_for(
            lambda: stage.metric("pipeline_in_flight_messages") == len(sent),
            "every message to be in flight",
        )
        stage.send(signal.SIGTERM)
        wait_for(lambda: stage.get("/readyz").status_code == 503, "/readyz to turn 503")
        assert stage.wait() == 0
        [stopping] = [e for e in stage.events() if e["event"] == "runtime.stopping"]
        assert stopping["in_flight"] == len(sent)
        output.wait_for_ids(s.id for s in sent)
    assert committed_offsets(kafka_bootstrap, group, topics.input, PARTITIONS) == end_offsets(
        admin, topics.input, PARTITIONS
    )
    assert sorted(r.id for r in output.records()) == sorted(s.id for s in sent)


def test_a_second_signal_exits_at_once(
    kafka_bootstrap: str, topics: ScriptedTopics, group: str, tmp_path: Path
) -> None:
    env = stage_env(kafka_bootstrap, topics, group, workers=8)
    with StageProcess(env, tmp_path / "stage.log") as stage:
        stage.wait_ready()
        sent = produce(kafka_bootstrap, topics.input, numbered("sleep:60", "s", 3, [0]))
        wait_for(
            lambda: stage.metric("pipeline_in_flight_messages") == len(sent),
            "the slow messages to be in flight",
        )
        stage.send(signal.SIGTERM)
        wait_for(lambda: stage.has_event("runtime.stopping"), "the graceful stop to begin")
        stage.send(signal.SIGTERM)
        assert stage.wait(timeout_s=5) == 128 + signal.SIGTERM
    assert committed_offsets(kafka_bootstrap, group, topics.input, PARTITIONS)[0] <= sent[0].offset


def test_the_http_port_answers_health_readiness_and_metrics(
    kafka_bootstrap: str, topics: ScriptedTopics, group: str, tmp_path: Path
) -> None:
    env = stage_env(kafka_bootstrap, topics, group)
    with StageProcess(env, tmp_path / "stage.log") as stage:
        stage.wait_ready()
        health = stage.get("/healthz")
        assert health.status_code == 200 and health.text.startswith("ok")
        ready = stage.get("/readyz")
        assert ready.status_code == 200 and "3 partitions assigned" in ready.text
        sent = produce(kafka_bootstrap, topics.input, numbered("plain", "h", 9, EVERY_PARTITION))
        wait_for(
            lambda: (
                stage.metric("pipeline_consumed_messages_total") == len(sent)
                and stage.metric("pipeline_produced_messages_total", topic=topics.output)
                == len(sent)
            ),
            lambda: f"the counters to reach {len(sent)}:\n{stage.get('/metrics').text}",
        )
        text = stage.get("/metrics").text
        for name in (
            "pipeline_in_flight_messages",
            "pipeline_paused_partitions",
            "pipeline_consumer_lag_messages",
            "pipeline_committed_offset",
            "pipeline_processing_seconds_bucket",
            "pipeline_end_to_end_seconds_bucket",
        ):
            assert f"\n{name}{{" in text, f"{name} missing from /metrics"
        stage.send(signal.SIGTERM)
        assert stage.wait() == 0


def test_nearly_every_message_failing_halts_the_stage_with_exit_code_3(
    kafka_bootstrap: str, topics: ScriptedTopics, group: str, tmp_path: Path
) -> None:
    produce(kafka_bootstrap, topics.input, numbered("poison", "x", 40, [0]))
    env = stage_env(kafka_bootstrap, topics, group, max_failure_ratio=0.8, failure_window=10)
    with StageProcess(env, tmp_path / "stage.log") as stage:
        assert stage.wait() == 3
        assert stage.has_event("runtime.halted")
