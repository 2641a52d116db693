"""`pipeline kafka up|status|down` with a real Docker engine: the broker choice order end to end.

No cluster configured: an engine with the broker image wins over the local jars; without the
image the same commands fall back to the jars.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from docker import DockerClient

from pipeline.adapters.kafka.broker.choice import Probes, libs_dir
from pipeline.adapters.kafka.broker.jars import cached_libs, kafka_version
from pipeline.adapters.kafka.broker.paths import BROKER_POM
from pipeline.runtime.messages import Produce
from tests.support.cli import NOT_INHERITED, run_kafka_cli
from tests.support.pipeline import produce, read_to_end

pytestmark = pytest.mark.docker


@pytest.fixture
def env(tmp_path: Path, kafka_image: str) -> Iterator[dict[str, str]]:
    """The caller's engine (DOCKER_HOST), a cache of our own holding the already-cached jars."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env["PIPELINE_CACHE_DIR"] = str(tmp_path / "cache")
    linked = cached_libs(tmp_path / "cache", kafka_version(BROKER_POM))
    linked.parent.mkdir(parents=True)
    linked.symlink_to(libs_dir(Probes(os.environ)), target_is_directory=True)
    yield env
    run_kafka_cli(env, tmp_path, "down", "--grace", "5")


def state(tmp_path: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((tmp_path / "cache" / "dev-broker.json").read_text())
    return loaded


def test_up_runs_the_broker_image_in_docker_and_down_removes_it(
    env: dict[str, str], tmp_path: Path, kafka_image: str, docker_client: DockerClient
) -> None:
    started = run_kafka_cli(env, tmp_path, "up")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Kafka broker (docker)" in started.stdout
    recorded = state(tmp_path)
    bootstrap, container_id = str(recorded["bootstrap"]), str(recorded["container_id"])
    container = docker_client.containers.get(container_id)
    assert container.status == "running"
    assert container.image is not None and kafka_image in container.image.tags

    status = run_kafka_cli(env, tmp_path, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(r"kind\s+docker\b", status.stdout)
    assert re.search(r"brokers\s+1\b", status.stdout)

    topic = f"cli-docker-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    produce(bootstrap, [Produce(topic, b"through the container", key=b"k")])
    assert [r.value for r in read_to_end(bootstrap, topic)] == [b"through the container"]

    stopped = run_kafka_cli(env, tmp_path, "down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert docker_client.containers.list(all=True, filters={"id": container_id}) == []
    assert not (tmp_path / "cache" / "dev-broker.json").exists()


def test_up_without_the_broker_image_falls_back_to_the_local_jars(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["PIPELINE_KAFKA_IMAGE"] = f"pipeline-kafka:absent-{uuid.uuid4().hex[:8]}"

    started = run_kafka_cli(env, tmp_path, "up")

    assert started.returncode == 0, started.stdout + started.stderr
    assert "Kafka broker (kraft)" in started.stdout
    assert state(tmp_path)["kind"] == "kraft"
