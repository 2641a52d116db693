"""A stage declared with ``process_batch`` against a real broker: batches of one partition in
offset order, every message once, only the poison message of a batch dead-lettered, and input
offsets committed only once the outputs before them are acknowledged."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from pipeline.runtime.stage import StageSpec
from tests.support.runtime import (
    CommitSampler,
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
from tests.support.stages import OUTPUT, BatchScripted

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture
def topics(admin: AdminClient) -> Iterator[ScriptedTopics]:
    with scripted_topics(admin, partitions=PARTITIONS) as created:
        yield created


def test_a_batch_stage_runs_every_message_once_and_dead_letters_only_the_poison(
    kafka_bootstrap: str, topics: ScriptedTopics
) -> None:
    group = f"rt-{uuid.uuid4().hex}"
    settings = stage_settings(kafka_bootstrap, topics, commit_interval_s=0.05)
    # A few milliseconds each, so commits are sampled while the batches run.
    before = produce(kafka_bootstrap, topics.input, numbered("sleep:0.002", "a", 300, [0, 1, 2]))
    [poison] = produce(kafka_bootstrap, topics.input, [(1, b"poison:p1")])
    after = produce(kafka_bootstrap, topics.input, numbered("sleep:0.002", "b", 300, [0, 1, 2]))
    sent = [*before, poison, *after]
    batch = BatchScripted(settings.kafka.topic(OUTPUT))
    spec = StageSpec(name="scripted", input_topic=topics.input, group_id=group, process_batch=batch)
    sampler = CommitSampler(kafka_bootstrap, group, topics, PARTITIONS)
    try:
        with (
            TopicReader(kafka_bootstrap, topics.output) as output,
            TopicReader(kafka_bootstrap, topics.dlq) as dlq,
            StageThread(spec, settings),
        ):
            wait_for(
                lambda: all_committed(kafka_bootstrap, group, topics.input),
                "every input offset to be committed",
            )
            output.wait_for_ids(s.id for s in [*before, *after])
            wait_for(dlq.records, "the poison message in the DLQ")
    finally:
        samples = sampler.stop()
    out = Counter(r.id for r in output.records())
    assert out == Counter(s.id for s in [*before, *after]), "lost or duplicated output"
    assert [r.value for r in dlq.records()] == [b"poison:p1"]
    assert sum(out.values()) + len(dlq.records()) == len(sent)

    runs = batch.batches
    assert max(len(run) for run in runs) > 1, "no message ran in a batch"
    for run in runs:
        assert len({partition for partition, _ in run}) == 1, f"a batch mixed partitions: {run}"
        offsets = [offset for _, offset in run]
        assert offsets == sorted(offsets), f"a batch out of offset order: {run}"
    succeeded = Counter(key for run in runs for key in run)
    assert succeeded == Counter((s.partition, s.offset) for s in [*before, *after])

    output_offset = {r.id: r.offset for r in output.records()}
    for sample in samples:
        for s in [*before, *after]:
            if s.offset < sample.committed[s.partition]:
                assert output_offset[s.id] < sample.output_end, (
                    f"{s.partition}/{s.offset} committed before its output was acknowledged"
                )
    total = len(sent)
    assert any(0 < sum(sample.committed) < total for sample in samples), "no commit was sampled"
