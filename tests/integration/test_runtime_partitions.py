"""Per-partition behaviour of the stage runtime against a real broker: a slow partition is paused
alone, and a poison message is dead-lettered without stopping its partition."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.runtime import (
    ScriptedTopics,
    StageThread,
    TopicReader,
    all_committed,
    numbered,
    produce,
    scripted_topics,
    stage_settings,
    wait_for,
)
from tests.support.stages import scripted_spec

pytestmark = pytest.mark.integration

WINDOW = 5


@pytest.fixture
def topics(admin: AdminClient) -> Iterator[ScriptedTopics]:
    with scripted_topics(admin, partitions=3) as created:
        yield created


def test_a_slow_partition_is_paused_while_the_others_flow(
    kafka_bootstrap: str, topics: ScriptedTopics
) -> None:
    group = f"rt-{uuid.uuid4().hex}"
    settings = stage_settings(
        kafka_bootstrap, topics, max_in_flight_per_partition=WINDOW, workers=32
    )
    slow = produce(kafka_bootstrap, topics.input, numbered("sleep:3", "slow", 2 * WINDOW, [0]))
    # More than a window each, so the fast partitions pause and resume on their own too.
    fast = produce(kafka_bootstrap, topics.input, numbered("plain", "fast", 24, [1, 2]))
    with (
        TopicReader(kafka_bootstrap, topics.output) as output,
        StageThread(scripted_spec(settings, group), settings) as stage,
    ):
        wait_for(lambda: "window_full" in stage.paused_reasons(0), "partition 0 to be paused")
        output.wait_for_ids(s.id for s in fast)
        slow_done_when_fast_done = output.ids() & {s.id for s in slow}
        assert stage.paused_reasons(1) == stage.paused_reasons(2) == frozenset()
        output.wait_for_ids(s.id for s in slow)
        assert stage.metric("pipeline_pauses_total", reason="window_full") >= 1
        wait_for(
            lambda: all_committed(kafka_bootstrap, group, topics.input),
            "every input offset to be committed",
        )
        assert "window_full" not in stage.paused_reasons(0)
    assert not slow_done_when_fast_done, "partition 0 was not the slow one"


def test_a_partition_never_holds_more_than_its_window(
    kafka_bootstrap: str, topics: ScriptedTopics
) -> None:
    """engine.py's invariant: "each partition holds at most a window of unfinished messages"."""
    group = f"rt-{uuid.uuid4().hex}"
    settings = stage_settings(
        kafka_bootstrap, topics, max_in_flight_per_partition=WINDOW, workers=32
    )
    slow = produce(kafka_bootstrap, topics.input, numbered("sleep:0.3", "slow", 15, [0]))
    peak = 0
    with (
        TopicReader(kafka_bootstrap, topics.output) as output,
        StageThread(scripted_spec(settings, group), settings) as stage,
    ):

        def all_out() -> bool:
            nonlocal peak
            status = stage.partitions().get(0)
            peak = max(peak, 0 if status is None else status.in_flight)
            return {s.id for s in slow} <= output.ids()

        wait_for(all_out, "every slow message in the output", interval_s=0.01)
    assert 0 < peak <= WINDOW, f"partition 0 held {peak} unfinished messages (window {WINDOW})"


def test_a_poison_message_goes_to_the_dlq_and_its_partition_continues(
    kafka_bootstrap: str, topics: ScriptedTopics
) -> None:
    group = f"rt-{uuid.uuid4().hex}"
    settings = stage_settings(kafka_bootstrap, topics)
    before = produce(kafka_bootstrap, topics.input, numbered("plain", "before", 5, [0]))
    [poison] = produce(kafka_bootstrap, topics.input, [(0, b"poison:p0")])
    after = produce(kafka_bootstrap, topics.input, numbered("plain", "after", 10, [0]))
    others = produce(kafka_bootstrap, topics.input, numbered("plain", "other", 10, [1, 2]))
    with (
        TopicReader(kafka_bootstrap, topics.output) as output,
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        StageThread(scripted_spec(settings, group), settings) as stage,
    ):
        output.wait_for_ids(s.id for s in [*before, *after, *others])
        [dead] = wait_for(dlq.records, "the poison message in the DLQ")
        wait_for(
            lambda: all_committed(kafka_bootstrap, group, topics.input),
            "partition 0 to be committed past the poison message",
        )
        assert stage.metric("pipeline_dlq_messages_total") == 1
    assert poison.id not in output.ids()
    assert dead.value == b"poison:p0"
    headers = dict(dead.headers)
    assert headers["dlq.origin.topic"] == topics.input.encode()
    assert headers["dlq.origin.partition"] == b"0"
    assert headers["dlq.origin.offset"] == str(poison.offset).encode()
    assert headers["dlq.stage"] == b"scripted"
    assert b"ValueError: poison message at offset" in headers["dlq.error"]
    assert headers["dlq.attempts"] == b"1"
    assert int(headers["dlq.time_ms"]) > 0
