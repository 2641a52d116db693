"""The plan diff, pure: declared specs plus a described cluster state give a plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from pipeline.adapters.kafka.topics.plan import (
    AddPartitions,
    AlterConfigs,
    ClusterState,
    ConfigChange,
    CreateTopic,
    PlanRefusedError,
    Refusal,
    TopicState,
    check_refusals,
    plan_topics,
)
from pipeline.adapters.kafka.topics.spec import TopicSpec
from pipeline.errors import UserError

PREFIX = "t1-"


def _name(name: str) -> str:
    return PREFIX + name


_BASE = TopicSpec(
    name="events.raw",
    partitions=4,
    replication_factor=1,
    retention_ms=86_400_000,
    cleanup_policy="delete",
    config={"segment.ms": "3600000"},
)


def _spec(name: str = "events.raw", **overrides: Any) -> TopicSpec:
    return dataclasses.replace(_BASE, name=name, **overrides)


def _broker_configs(**changes: str) -> dict[str, str | None]:
    """Effective configs as describe_configs reports them: every key, defaults included."""
    configs: dict[str, str | None] = {
        "cleanup.policy": "delete",
        "retention.ms": "86400000",
        "segment.ms": "3600000",
        "compression.type": "producer",
        "min.insync.replicas": "1",
        "min.cleanable.dirty.ratio": "0.5",
        "max.message.bytes": "1048588",
    }
    return {**configs, **{key.replace("_", "."): value for key, value in changes.items()}}


def _cluster(topics: Mapping[str, TopicState] | None = None, broker_count: int = 1) -> ClusterState:
    return ClusterState(broker_count=broker_count, topics=topics or {})


def _state(partitions: int = 4, replication: int = 1, **configs: str) -> TopicState:
    return TopicState(partitions, replication, _broker_configs(**configs))


def test_missing_topics_are_created_under_their_broker_name() -> None:
    plan = plan_topics([_spec(), _spec("outcomes", partitions=2)], _cluster(), _name)
    assert plan.creates == (
        CreateTopic(
            "t1-events.raw",
            4,
            1,
            {"cleanup.policy": "delete", "retention.ms": "86400000", "segment.ms": "3600000"},
        ),
        CreateTopic(
            "t1-outcomes",
            2,
            1,
            {"cleanup.policy": "delete", "retention.ms": "86400000", "segment.ms": "3600000"},
        ),
    )
    assert (plan.alters, plan.partition_adds, plan.refusals) == ((), (), ())
    assert not plan.in_sync


def test_in_sync_cluster_gives_an_empty_plan() -> None:
    plan = plan_topics([_spec()], _cluster({"t1-events.raw": _state()}), _name)
    assert plan.in_sync


def test_declared_values_equal_to_broker_defaults_are_no_change() -> None:
    spec = _spec(
        cleanup_policy="compact,delete",
        config={"compression.type": "producer", "min.cleanable.dirty.ratio": "0.50"},
    )
    state = _state(cleanup_policy="delete,compact")
    assert plan_topics([spec], _cluster({"t1-events.raw": state}), _name).in_sync


def test_changed_configs_are_altered_old_to_new_only_for_declared_keys() -> None:
    state = _state(retention_ms="3600000", segment_ms="600000", max_message_bytes="999")
    plan = plan_topics([_spec()], _cluster({"t1-events.raw": state}), _name)
    assert plan.alters == (
        AlterConfigs(
            "t1-events.raw",
            (
                ConfigChange("retention.ms", "3600000", "86400000"),
                ConfigChange("segment.ms", "600000", "3600000"),
            ),
        ),
    )
    assert (plan.creates, plan.partition_adds, plan.refusals) == ((), (), ())


def test_more_partitions_are_added() -> None:
    plan = plan_topics([_spec(partitions=8)], _cluster({"t1-events.raw": _state(4)}), _name)
    assert plan.partition_adds == (AddPartitions("t1-events.raw", 4, 8),)
    assert plan.refusals == ()


def test_shrinking_partitions_is_refused_with_the_reason() -> None:
    plan = plan_topics([_spec(partitions=2)], _cluster({"t1-events.raw": _state(4)}), _name)
    (refusal,) = plan.refusals
    assert refusal.topic == "t1-events.raw"
    assert refusal.reason.startswith("partitions 4 -> 2: Kafka cannot reduce")
    assert "create a new topic and replay" in refusal.reason
    assert plan.partition_adds == ()
    with pytest.raises(PlanRefusedError, match=r"t1-events\.raw: partitions 4 -> 2"):
        check_refusals(plan)


def test_replication_factor_change_is_reported_as_unsupported() -> None:
    cluster = _cluster({"t1-events.raw": _state(replication=1)}, broker_count=3)
    plan = plan_topics([_spec(replication_factor=3)], cluster, _name)
    assert plan.refusals == (
        Refusal(
            "t1-events.raw",
            "replication_factor 1 -> 3: not supported by topics apply; "
            "reassign replicas with kafka-reassign-partitions",
        ),
    )


def test_replication_factor_above_broker_count_refuses_the_creation() -> None:
    plan = plan_topics([_spec(replication_factor=3)], _cluster(broker_count=1), _name)
    assert plan.creates == ()
    assert plan.refusals == (
        Refusal("t1-events.raw", "replication_factor 3 is above the 1 broker(s) of the cluster"),
    )


def test_config_the_broker_does_not_know_is_refused() -> None:
    spec = _spec(config={"segment.ms": "3600000", "segment.bogus": "1"})
    plan = plan_topics([spec], _cluster({"t1-events.raw": _state()}), _name)
    assert plan.refusals == (
        Refusal("t1-events.raw", "config segment.bogus: unknown to the broker"),
    )


def test_prefixed_name_must_still_be_a_valid_topic_name() -> None:
    plan = plan_topics([_spec()], _cluster(), lambda name: "bad prefix/" + name)
    (refusal,) = plan.refusals
    assert refusal.topic == "bad prefix/events.raw"
    assert "may only hold ASCII letters" in refusal.reason
    assert plan.creates == ()


def test_topics_not_declared_are_never_touched() -> None:
    cluster = _cluster({"t1-events.raw": _state(), "t1-old": _state(), "other": _state()})
    assert plan_topics([_spec()], cluster, _name).in_sync


def test_check_refusals_passes_a_plan_without_refusals_and_is_a_user_error() -> None:
    check_refusals(plan_topics([_spec()], _cluster(), _name))
    refused = plan_topics([_spec(partitions=1)], _cluster({"t1-events.raw": _state()}), _name)
    with pytest.raises(UserError):
        check_refusals(refused)
