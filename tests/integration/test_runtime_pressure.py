"""Downstream pressure pauses intake against a real broker: a failing sink, and a downstream
consumer group that is too far behind. Both resume when the pressure clears; nothing is lost."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.runtime import (
    ScriptedTopics,
    StageThread,
    TopicReader,
    all_committed,
    committed_offsets,
    end_offsets,
    holds_for,
    numbered,
    produce,
    scripted_topics,
    set_group_offsets,
    stage_settings,
    wait_for,
)
from tests.support.stages import ListSink, scripted_spec

pytestmark = pytest.mark.integration

PARTITIONS = 3
DOWNSTREAM = "down"


@pytest.fixture
def topics(admin: AdminClient) -> Iterator[ScriptedTopics]:
    with scripted_topics(admin, partitions=PARTITIONS, extra=[DOWNSTREAM]) as created:
        yield created


def test_a_failing_sink_pauses_intake_until_it_recovers_and_loses_nothing(
    kafka_bootstrap: str, admin: AdminClient, topics: ScriptedTopics
) -> None:
    group = f"rt-{uuid.uuid4().hex}"
    settings = stage_settings(kafka_bootstrap, topics, retry_max_backoff_s=0.2)
    sink = ListSink()
    everything = list(range(PARTITIONS))

    def committed() -> list[int]:
        return committed_offsets(kafka_bootstrap, group, topics.input, PARTITIONS)

    with StageThread(scripted_spec(settings, group, sink=sink), settings) as stage:
        first = produce(kafka_bootstrap, topics.input, numbered("plain", "first", 30, everything))
        wait_for(lambda: {s.value for s in first} <= set(sink.written()), "the first writes")
        before_outage = end_offsets(admin, topics.input, PARTITIONS)
        wait_for(lambda: committed() == before_outage, "the first messages to be committed")

        sink.failing = True
        second = produce(kafka_bootstrap, topics.input, numbered("plain", "second", 30, everything))

        def paused_by_outage() -> bool:
            assert committed() == before_outage, "an offset was committed while the sink failed"
            return sink.failed_writes >= 3 and all(
                "sink_unavailable" in stage.paused_reasons(p) for p in everything
            )

        wait_for(paused_by_outage, "intake to pause for the failing sink")
        assert sorted(sink.written()) == sorted(s.value for s in first)
        assert stage.metric("pipeline_pauses_total", reason="sink_unavailable") == 1

        sink.failing = False
        wait_for(lambda: {s.value for s in second} <= set(sink.written()), "the held writes")
        wait_for(
            lambda: committed() == end_offsets(admin, topics.input, PARTITIONS),
            "every offset to be committed after the sink recovered",
        )
        assert all("sink_unavailable" not in stage.paused_reasons(p) for p in everything)
    written = Counter(sink.written())
    assert set(written) == {s.value for s in [*first, *second]}


def test_downstream_lag_pauses_intake_until_the_downstream_group_catches_up(
    kafka_bootstrap: str, admin: AdminClient, topics: ScriptedTopics
) -> None:
    group, downstream_group = f"rt-{uuid.uuid4().hex}", f"rt-down-{uuid.uuid4().hex}"
    downstream_topic = topics.named(DOWNSTREAM)
    produce(kafka_bootstrap, downstream_topic, numbered("plain", "down", 20, [0]))
    settings = stage_settings(
        kafka_bootstrap,
        topics,
        downstream_group=downstream_group,
        downstream_topic=DOWNSTREAM,
        downstream_max_lag=5,
        downstream_check_interval_s=0.1,
    )
    everything = list(range(PARTITIONS))
    with (
        TopicReader(kafka_bootstrap, topics.output) as output,
        StageThread(scripted_spec(settings, group), settings) as stage,
    ):
        wait_for(
            lambda: all("downstream_lag" in stage.paused_reasons(p) for p in everything),
            "intake to pause while the downstream group is 20 messages behind",
        )
        sent = produce(kafka_bootstrap, topics.input, numbered("plain", "in", 15, everything))
        holds_for(
            lambda: (
                not output.records()
                and all(s.position is None for s in stage.partitions().values())
            ),
            "a message was taken while the downstream group was behind",
            seconds=1.0,
        )
        set_group_offsets(admin, downstream_group, downstream_topic, [20])
        output.wait_for_ids(s.id for s in sent)
        assert all("downstream_lag" not in stage.paused_reasons(p) for p in everything)
        assert stage.metric("pipeline_pauses_total", reason="downstream_lag") == 1


def test_a_full_producer_queue_pauses_intake_and_loses_nothing(
    kafka_bootstrap: str, topics: ScriptedTopics
) -> None:
    """With room for 5 records in librdkafka's queue nearly every batch finds it full: records
    wait in order, intake pauses until deliveries make room, and each message comes out once."""
    group = f"rt-{uuid.uuid4().hex}"
    settings = stage_settings(kafka_bootstrap, topics)
    kafka = settings.kafka.model_copy(update={"client_config": {"queue.buffering.max.messages": 5}})
    settings = settings.model_copy(update={"kafka": kafka})
    sent = produce(
        kafka_bootstrap, topics.input, numbered("plain", "full", 600, list(range(PARTITIONS)))
    )
    with (
        TopicReader(kafka_bootstrap, topics.output) as output,
        StageThread(scripted_spec(settings, group), settings) as stage,
    ):
        output.wait_for_ids(s.id for s in sent)
        wait_for(
            lambda: all_committed(kafka_bootstrap, group, topics.input),
            "every offset to be committed",
        )
        assert stage.metric("pipeline_pauses_total", reason="producer_queue") >= 1
    assert Counter(r.value for r in output.records()) == Counter(s.value for s in sent)
