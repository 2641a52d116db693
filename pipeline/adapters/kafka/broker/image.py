"""Docker images built locally: the Kafka broker image from the project's own jars, and a
helper any Dockerfile of the project builds with (host network, so RUN steps reach the package
mirrors even on an engine started without a bridge)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import docker
import structlog
from docker.errors import APIError, BuildError, DockerException

from pipeline.adapters.kafka.broker.kraft_files import LOG4J2_PROPERTIES
from pipeline.adapters.kafka.broker.paths import BROKER_POM
from pipeline.errors import UserError

log = structlog.get_logger()

DEFAULT_BASE_IMAGE = "debian:bookworm-slim"


def build_image(
    context: Path,
    tag: str,
    *,
    dockerfile: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
    timeout_s: float = 900.0,
) -> str:
    """Build ``context`` into ``tag`` (layers cached by the engine) and return the image id."""
    try:
        client = docker.from_env(timeout=int(timeout_s))
        image, _ = client.images.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=dict(build_args or {}),
            network_mode="host",
            rm=True,
            forcerm=True,
        )
    except BuildError as exc:
        steps = [
            str(chunk.get("stream", chunk.get("error", ""))).rstrip() for chunk in exc.build_log
        ]
        tail = "\n".join(line for line in steps if line)[-2000:]
        raise UserError(f"building the image {tag} failed: {exc.msg}\n{tail}") from exc
    except (APIError, DockerException) as exc:
        raise UserError(f"building the image {tag} needs a Docker engine: {exc}") from exc
    log.info("docker_image.built", tag=tag, id=image.id)
    return str(image.id)


def build_kafka_image(libs: Path, tag: str, base_image: str = DEFAULT_BASE_IMAGE) -> str:
    """deploy/kafka/Dockerfile with ``libs`` (the resolved broker jars) in a temporary context."""
    if not any(libs.glob("kafka_*.jar")):
        raise UserError(f"{libs} holds no kafka_*.jar: run `pipeline kafka up` once without Docker")
    with tempfile.TemporaryDirectory(prefix="kafka-image-") as tmp:
        context = Path(tmp)
        for name in ("Dockerfile", "start-kafka.sh"):
            shutil.copy2(BROKER_POM.parent / name, context / name)
        (context / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        shutil.copytree(libs, context / "libs")
        return build_image(context, tag, build_args={"BASE_IMAGE": base_image})
