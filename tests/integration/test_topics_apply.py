"""topics apply against a real broker: the repository's topics.yaml, under a unique prefix."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# confluent_kafka.admin re-exports these without __all__, which mypy --strict reports.
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ResourceType,
)

from pipeline.adapters.kafka.topics.plan import PlanRefusedError
from pipeline.adapters.kafka.topics.spec import TopicSpec, load_topics
from pipeline.adapters.kafka.topics.sync import apply_topics, current_plan
from pipeline.config import PROJECT_ROOT, BacklogSettings

pytestmark = pytest.mark.integration

TIMEOUT_S = 30.0
TOPICS_FILE = PROJECT_ROOT / "topics.yaml"


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[AdminClient]:
    with AdminClient({"bootstrap.servers": kafka_bootstrap}) as client:
        yield client


@pytest.fixture
def prefix(admin: AdminClient) -> Iterator[str]:
    """A unique topic prefix; its topics are deleted afterwards, the broker is shared."""
    value = f"it-topics-{uuid.uuid4().hex[:10]}-"
    yield value
    ours = [name for name in admin.list_topics(timeout=TIMEOUT_S).topics if name.startswith(value)]
    if ours:
        for future in admin.delete_topics(ours, operation_timeout=TIMEOUT_S).values():
            future.result(TIMEOUT_S)


@pytest.fixture
def specs() -> tuple[TopicSpec, ...]:
    return load_topics(TOPICS_FILE, drain_horizon_s=BacklogSettings().drain_horizon_s)


def _namer(prefix: str) -> Callable[[str], str]:
    return lambda name: prefix + name


def _broker_configs(admin: AdminClient, topics: list[str]) -> dict[str, dict[str, str | None]]:
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
    described = admin.describe_configs(resources, request_timeout=TIMEOUT_S)
    return {
        resource.name: {key: entry.value for key, entry in future.result(TIMEOUT_S).items()}
        for resource, future in described.items()
    }


def _assert_cluster_matches(admin: AdminClient, specs: tuple[TopicSpec, ...], prefix: str) -> None:
    names = [prefix + spec.name for spec in specs]
    metadata = admin.list_topics(timeout=TIMEOUT_S)
    configs = _broker_configs(admin, names)
    for spec, name in zip(specs, names, strict=True):
        assert len(metadata.topics[name].partitions) == spec.partitions, name
        effective = configs[name]
        assert effective["cleanup.policy"] == spec.cleanup_policy, name
        assert effective["retention.ms"] == str(spec.retention_ms), name
        for key, value in spec.config.items():
            assert effective[key] == value, (name, key)


def test_apply_creates_every_topic_as_declared_and_is_idempotent(
    admin: AdminClient, prefix: str, specs: tuple[TopicSpec, ...]
) -> None:
    applied = apply_topics(admin, specs, _namer(prefix), timeout_s=TIMEOUT_S)

    assert sorted(c.topic for c in applied.creates) == sorted(prefix + s.name for s in specs)
    _assert_cluster_matches(admin, specs, prefix)
    assert current_plan(admin, specs, _namer(prefix), timeout_s=TIMEOUT_S).in_sync
    assert apply_topics(admin, specs, _namer(prefix), timeout_s=TIMEOUT_S).in_sync


def test_apply_grows_partitions_and_alters_configs_but_refuses_a_shrink(
    admin: AdminClient, prefix: str, specs: tuple[TopicSpec, ...]
) -> None:
    apply_topics(admin, specs, _namer(prefix), timeout_s=TIMEOUT_S)
    outcomes = next(s for s in specs if s.name == "outcomes")
    grown = dataclasses.replace(
        outcomes, partitions=outcomes.partitions + 2, retention_ms=7_200_000
    )

    applied = apply_topics(admin, [grown], _namer(prefix), timeout_s=TIMEOUT_S)

    assert [(a.current, a.target) for a in applied.partition_adds] == [
        (outcomes.partitions, outcomes.partitions + 2)
    ]
    assert [(c.key, c.new) for a in applied.alters for c in a.changes] == [
        ("retention.ms", "7200000")
    ]
    _assert_cluster_matches(admin, (grown,), prefix)

    shrunk = dataclasses.replace(grown, partitions=1, retention_ms=3_600_000)
    with pytest.raises(PlanRefusedError, match="Kafka cannot reduce a topic's partitions"):
        apply_topics(admin, [shrunk], _namer(prefix), timeout_s=TIMEOUT_S)
    _assert_cluster_matches(admin, (grown,), prefix)  # refused as a whole: retention unchanged


def test_cli_apply_then_plan_reports_no_changes(kafka_bootstrap: str, prefix: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")},
        "PIPELINE_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PIPELINE_KAFKA__TOPIC_PREFIX": prefix,
    }
    cli = str(Path(sys.executable).with_name("pipeline"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, "topics", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    applied = run("apply", "--file", str(TOPICS_FILE))
    assert applied.returncode == 0, applied.stderr
    assert f"{prefix}events.raw" in applied.stdout.replace("\n", "")
    assert "create" in applied.stdout

    planned = run("plan")
    assert planned.returncode == 0, planned.stderr
    assert "No changes" in planned.stdout
