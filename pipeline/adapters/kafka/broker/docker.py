"""A broker in a Docker container via testcontainers, when a Docker engine has the broker image.

The image is built locally from the project's own jars (``pipeline kafka image``,
deploy/kafka/Dockerfile), never pulled: the same broker and settings as the KRaft JVM. The
container runs on the host's network, so it works on engines started without a bridge, and
its ports are picked here like the JVM broker's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from docker.errors import DockerException, ImageNotFound, NotFound
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient

from pipeline.adapters.kafka.broker.jars import kafka_version
from pipeline.adapters.kafka.broker.kraft import free_ports
from pipeline.adapters.kafka.broker.kraft_files import cluster_id, render_server_properties
from pipeline.adapters.kafka.broker.paths import BROKER_POM
from pipeline.adapters.kafka.broker.readiness import wait_ready
from pipeline.errors import UserError

IMAGE_ENV = "PIPELINE_KAFKA_IMAGE"
DATA_DIR = Path("/var/lib/kafka/data")
"""Inside the container (deploy/kafka/Dockerfile makes it the kafka user's home)."""
LABEL = "dev.pipeline.kafka-broker"


def broker_image(env: Mapping[str, str]) -> str:
    """``$PIPELINE_KAFKA_IMAGE``, else ``pipeline-kafka:<kafka.version of the broker pom>``."""
    return env.get(IMAGE_ENV) or f"pipeline-kafka:{kafka_version(BROKER_POM)}"


def docker_broker_available(timeout_s: float = 2.0) -> bool:
    """Whether a Docker engine answers (found the way testcontainers finds it) and has the
    broker image; without the image the local jars are the better choice than a failed pull."""
    try:
        client = DockerClient(timeout=timeout_s).client
        client.images.get(broker_image(os.environ))
        return True
    except Exception:  # no socket, refused, timeout, bad DOCKER_HOST, no image: all mean "no"
        return False


class DockerBroker:
    """One KRaft broker container on the host's network.

    ``keep=True`` lets it outlive this process (``pipeline kafka up``); it is then removed by
    container id (``remove_container``). The Ryuk reaper is never started: its image would have
    to be pulled, and stopping the broker (or ``pipeline kafka down``) removes the container.
    """

    kind = "docker"

    def __init__(
        self,
        *,
        port: int | None = None,
        keep: bool = False,
        image: str | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self._image = image or broker_image(env)
        ports = free_ports(2)
        self._port = port or ports[0]
        controller_port = next(p for p in ports if p != self._port)
        self._cluster_id = cluster_id()
        properties = render_server_properties(self._port, controller_port, DATA_DIR)
        self._container = (
            DockerContainer(self._image)
            .with_kwargs(network_mode="host", labels={LABEL: "keep" if keep else "test"})
            .with_env("KAFKA_SERVER_PROPERTIES", properties)
            .with_env("KAFKA_CLUSTER_ID", self._cluster_id)
        )
        self._started = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def container_id(self) -> str:
        return str(self._container.get_wrapped_container().id)

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the container and wait until the broker answers with our cluster id."""
        testcontainers_config.ryuk_disabled = True
        try:
            # Looked up first: for a missing image the engine would try a registry instead.
            self._container.get_docker_client().client.images.get(self._image)
            self._container.start()
        except ImageNotFound as exc:
            raise UserError(
                f"the Docker engine has no image {self._image}; build it with "
                f"`pipeline kafka image` (or set {IMAGE_ENV})"
            ) from exc
        except DockerException as exc:
            raise UserError(f"Kafka in Docker ({self._image}) did not start: {exc}") from exc
        self._started = True
        outcome = wait_ready(
            self.bootstrap, self._cluster_id, timeout_s=timeout_s, alive=self._running
        )
        if outcome != "ready":
            logs = self._logs()
            self.stop()
            what = "exited" if outcome == "exited" else f"did not answer in {timeout_s}s"
            raise UserError(f"Kafka in Docker ({self._image}) {what}; its log ends:\n{logs}")

    def stop(self) -> None:
        if self._started:
            self._container.stop()
            self._started = False

    def _running(self) -> bool:
        container = self._container.get_wrapped_container()
        try:
            container.reload()
        except NotFound:
            return False
        return container.status in ("created", "running")

    def _logs(self, lines: int = 15) -> str:
        stdout, stderr = self._container.get_logs()
        text = (stdout + stderr).decode(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def remove_container(container_id: str) -> None:
    """Remove a kept broker container (gone already is fine)."""
    try:
        client = DockerClient().client
        for container in client.containers.list(all=True, filters={"id": container_id}):
            container.remove(force=True)
    except Exception as exc:  # no engine, refused, API errors
        raise UserError(f"could not remove the broker container {container_id}: {exc}") from exc
