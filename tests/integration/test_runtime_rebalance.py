"""A group of stage runtimes grows from 2 to 3 members and shrinks back while work is in flight:
nothing is lost, and no committed offset ever passes work whose output was not yet stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import pytest
from confluent_kafka.admin import AdminClient

from pipeline.config import Settings
from tests.support.runtime import (
    CommitSample,
    CommitSampler,
    Received,
    ScriptedTopics,
    Sent,
    StageThread,
    SteadyProducer,
    TopicReader,
    all_committed,
    numbered,
    scripted_topics,
    stage_settings,
    wait_for,
)
from tests.support.stages import scripted_spec

pytestmark = pytest.mark.integration

PARTITIONS = 6


@pytest.fixture
def topics(admin: AdminClient) -> Iterator[ScriptedTopics]:
    with scripted_topics(admin, partitions=PARTITIONS) as created:
        yield created


def test_growing_and_shrinking_group_loses_nothing_and_never_commits_past_unfinished_work(
    kafka_bootstrap: str, topics: ScriptedTopics
) -> None:
    group = f"rt-{uuid.uuid4().hex}"
    # No revoke grace: a revoked partition's in-flight work is dropped and re-read by its next
    # owner, which is the path where a wrong commit would lose data.
    settings = stage_settings(
        kafka_bootstrap, topics, revoke_grace_s=0.0, workers=32, commit_interval_s=0.1
    )
    messages = numbered("sleep:0.5", "r", 360, list(range(PARTITIONS)))
    with TopicReader(kafka_bootstrap, topics.output) as output:
        first, second = _member(settings, group), _member(settings, group)
        _wait_owned([first, second], "two members to share every partition")
        sampler = CommitSampler(kafka_bootstrap, group, topics, PARTITIONS)
        producer = SteadyProducer(kafka_bootstrap, topics.input, messages, rate_per_s=60)
        try:
            wait_for(lambda: len(output.records()) >= 60, "output before the group grows")
            third = _member(settings, group)
            _wait_owned([first, second, third], "the third member to take partitions")
            wait_for(
                lambda: any(s.position is not None for s in third.partitions().values()),
                "the third member to take work",
            )
            third.stop()
            _wait_owned([first, second], "two members to own every partition again")
            sent = producer.join()
            output.wait_for_ids(s.id for s in sent)
            wait_for(
                lambda: all_committed(kafka_bootstrap, group, topics.input),
                "every input offset to be committed",
            )
            samples = sampler.stop()
            dropped = sum(
                m.metric("pipeline_revoked_unfinished_messages_total")
                for m in (first, second, third)
            )
        finally:
            sampler.stop()
            for member in (first, second):
                if member.running:
                    member.stop()
        records = output.records()
    assert dropped > 0, "no revoke dropped in-flight work, so the test proved nothing"
    assert len(samples) > 20
    _assert_commits_follow_outputs(samples, sent, records)


def _member(settings: Settings, group: str) -> StageThread:
    return StageThread(scripted_spec(settings, group), settings).start()


def _wait_owned(members: Sequence[StageThread], what: str) -> None:
    def split() -> bool:
        owned = [set(m.partitions()) for m in members]
        every = set().union(*owned)
        return all(owned) and every == set(range(PARTITIONS)) and sum(map(len, owned)) == len(every)

    wait_for(split, what)


def _assert_commits_follow_outputs(
    samples: Sequence[CommitSample], sent: Sequence[Sent], records: Sequence[Received]
) -> None:
    """For each sampled commit C of partition p, every input offset below C has an output
    record below the output end read right after it: the output was stored before the commit."""
    first_output: dict[str, int] = {}
    for record in records:
        first_output.setdefault(record.id, record.offset)
    # latest[p][c]: the latest first-output offset of the inputs of partition p below offset c.
    latest: list[list[int]] = [[-1] for _ in range(PARTITIONS)]
    for message in sorted(sent, key=lambda s: (s.partition, s.offset)):
        row = latest[message.partition]
        assert message.offset == len(row) - 1, "the input topic holds only this test's messages"
        row.append(max(row[-1], first_output[message.id]))
    for sample in samples:
        for partition, committed in enumerate(sample.committed):
            if committed < 0:
                continue
            row = latest[partition]
            assert committed < len(row), f"committed {committed} beyond the input of {partition}"
            assert row[committed] < sample.output_end, (
                f"partition {partition} committed {committed} while the output of an earlier "
                f"input was not stored yet (output end {sample.output_end})"
            )
