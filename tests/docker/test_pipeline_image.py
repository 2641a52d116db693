"""The project's image, built from deploy/Dockerfile, runs `pipeline run normalize` against the
test broker: generated raw events come out normalized. It runs as its own non-root user on a
read-only root filesystem, as the Kubernetes manifests require, and stops cleanly on SIGTERM."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from confluent_kafka.admin import AdminClient
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer

from pipeline.adapters.kafka.broker.kraft import free_ports
from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import PROJECT_ROOT, KafkaSettings
from pipeline.generator import EventFactory, Mix
from pipeline.runtime.messages import Produce
from pipeline.stages.normalize.stage import INPUT_TOPIC, OUTPUT_TOPIC, normalize_stage
from pipeline.stages.outcomes import received_at_headers, wall_ms
from tests.support.pipeline import (
    decode_all,
    pipeline_settings,
    pipeline_topics,
    produce,
    read_to_end,
    wait_for,
    wait_until_done,
)

pytestmark = pytest.mark.docker

EVENTS = 60


@pytest.fixture
def prefix(admin: AdminClient) -> Iterator[str]:
    with pipeline_topics(admin) as value:
        yield value


@pytest.fixture
def normalize_container(
    pipeline_image: str, kafka_bootstrap: str, prefix: str
) -> Iterator[tuple[Container, int]]:
    """`pipeline run normalize` from the image, on the host's network; yields it and its port."""
    http_port = free_ports(1)[0]
    runner = (
        DockerContainer(pipeline_image)
        .with_command("run normalize")
        .with_env("PIPELINE_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
        .with_env("PIPELINE_KAFKA__TOPIC_PREFIX", prefix)
        .with_env("PIPELINE_RUNTIME__HTTP_PORT", str(http_port))
        .with_env("PIPELINE_RUNTIME__COMMIT_INTERVAL_S", "0.2")
        # No --user: the image's own USER must already be non-root.
        .with_tmpfs_mount("/tmp")
        .with_kwargs(network_mode="host", read_only=True)
    )
    runner.start()
    try:
        yield runner.get_wrapped_container(), http_port
    finally:
        runner.stop()


def generated_raw_events(kafka: KafkaSettings) -> list[Produce]:
    """Valid, distinct events from the generator, encoded as the edge writes them."""
    codec = make_codec(kafka)
    topic = kafka.topic(INPUT_TOPIC)
    factory = EventFactory(Mix(invalid_ratio=0.0, duplicate_ratio=0.0), random.Random(12))
    now = wall_ms()
    return [
        Produce(
            topic,
            codec.encode("raw_event", generated.record, topic),
            key=generated.record["event_id"].encode(),
            headers=received_at_headers(generated.received_at_ms),
        )
        for _ in range(EVENTS)
        for generated in factory.next(now)
    ]


def test_normalize_from_the_image_turns_raw_events_into_normalized_ones(
    normalize_container: tuple[Container, int],
    kafka_bootstrap: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    container, http_port = normalize_container
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path)
    kafka = settings.kafka
    raw = generated_raw_events(kafka)
    sent_ids = {record.key for record in raw}
    assert len(sent_ids) == EVENTS

    produce(kafka_bootstrap, raw)
    wait_until_done(kafka_bootstrap, normalize_stage(settings), timeout_s=90)

    normalized = decode_all(
        make_codec(kafka),
        "processed_event",
        read_to_end(kafka_bootstrap, kafka.topic(OUTPUT_TOPIC)),
    )
    assert {event["event_id"].encode() for event in normalized} == sent_ids
    assert len(normalized) == EVENTS
    wait_for(lambda: _ready(http_port), "the container's /readyz", 30)

    uid = int(_exec(container, "awk '/^Uid:/ {print $2}' /proc/1/status"))
    assert uid != 0 and uid == manifest_uid(), "the image's user is the one the pods run as"
    write = container.exec_run(["sh", "-c", "touch /opt/pipeline/written"])
    assert write.exit_code != 0 and b"Read-only file system" in write.output

    container.stop(timeout=30)  # SIGTERM: the stage drains and commits, then exits 0
    assert container.wait(timeout=30)["StatusCode"] == 0, container.logs()[-2000:]


def manifest_uid() -> int:
    """``runAsUser`` of the normalize Deployment's pods (deploy/k8s/base/normalize.yaml)."""
    docs = yaml.safe_load_all(
        (PROJECT_ROOT / "deploy" / "k8s" / "base" / "normalize.yaml").read_text()
    )
    deployment = next(doc for doc in docs if doc and doc["kind"] == "Deployment")
    uid: int = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    return uid


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _exec(container: Container, command: str) -> str:
    result = container.exec_run(["sh", "-c", command])
    assert result.exit_code == 0 and isinstance(result.output, bytes), result.output
    return result.output.decode().strip()
