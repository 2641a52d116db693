"""The broker in Docker, started through testcontainers from the locally built image: records
produced through it come back, and a missing image is one clear error, never a pull."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from docker import DockerClient

from pipeline.adapters.kafka.broker.docker import DockerBroker
from pipeline.errors import UserError
from pipeline.runtime.messages import Produce
from tests.support.pipeline import produce, read_to_end

pytestmark = pytest.mark.docker

RECORDS = 200


@pytest.fixture
def broker(kafka_image: str) -> Iterator[DockerBroker]:
    started = DockerBroker(image=kafka_image)
    started.start(timeout_s=120)
    yield started
    started.stop()


def test_records_go_through_the_broker_container(
    broker: DockerBroker, kafka_image: str, docker_client: DockerClient
) -> None:
    container = docker_client.containers.get(broker.container_id)
    assert container.status == "running"
    assert container.image is not None and kafka_image in container.image.tags
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = f"docker-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    sent = [Produce(topic, f"value-{n}".encode(), key=f"key-{n}".encode()) for n in range(RECORDS)]

    produce(broker.bootstrap, sent)
    received = read_to_end(broker.bootstrap, topic)

    assert Counter(r.value for r in received) == Counter(r.value for r in sent)
    assert {r.partition for r in received} == {0, 1}


def test_stopping_removes_the_container(kafka_image: str, docker_client: DockerClient) -> None:
    broker = DockerBroker(image=kafka_image)
    broker.start(timeout_s=120)
    container_id = broker.container_id
    try:
        assert docker_client.containers.get(container_id).status == "running"
    finally:
        broker.stop()

    assert docker_client.containers.list(all=True, filters={"id": container_id}) == []


def test_a_missing_image_is_a_clear_error(docker_client: DockerClient) -> None:
    missing = f"pipeline-kafka:absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UserError, match=f"{missing}.*pipeline kafka image"):
        DockerBroker(image=missing).start(timeout_s=10)
