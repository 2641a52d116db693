"""A broker in a Docker container via testcontainers, when a Docker engine answers."""

from __future__ import annotations

from testcontainers.community.kafka import KafkaContainer
from testcontainers.core.config import testcontainers_config
from testcontainers.core.docker_client import DockerClient

from pipeline.errors import UserError

DEFAULT_IMAGE = "confluentinc/cp-kafka:8.0.0"

# Same tuning as the KRaft broker: fast KIP-848 rebalances for development and tests.
_FAST_GROUPS = {
    "KAFKA_GROUP_CONSUMER_MIN_HEARTBEAT_INTERVAL_MS": "500",
    "KAFKA_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS": "500",
    "KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_GROUP_CONSUMER_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
}


def docker_reachable(timeout_s: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping, found the way testcontainers finds it."""
    try:
        return bool(DockerClient(timeout=timeout_s).client.ping())
    except Exception:  # no socket, refused, timeout, bad DOCKER_HOST: all mean "no engine"
        return False


class DockerBroker:
    """testcontainers' Kafka container in KRaft mode.

    ``keep=True`` starts it without the Ryuk reaper, so it outlives this process
    (``pipeline kafka up``); it is then removed by container id (``remove_container``).
    """

    kind = "docker"

    def __init__(self, *, port: int | None = None, keep: bool = False, image: str = DEFAULT_IMAGE):
        self._container = KafkaContainer(image).with_kraft()
        for key, value in _FAST_GROUPS.items():
            self._container.with_env(key, value)
        if port is not None:
            self._container.with_bind_ports(self._container.port, port)
        self._keep = keep
        self._image = image
        self._started = False

    @property
    def bootstrap(self) -> str:
        return str(self._container.get_bootstrap_server())

    @property
    def container_id(self) -> str:
        return str(self._container.get_wrapped_container().id)

    def start(self, timeout_s: float = 120.0) -> None:
        if self._keep:
            testcontainers_config.ryuk_disabled = True
        try:
            self._container.start(timeout=int(timeout_s))
        except Exception as exc:  # docker-py and testcontainers raise many unrelated types
            raise UserError(f"Kafka in Docker ({self._image}) did not start: {exc}") from exc
        self._started = True

    def stop(self) -> None:
        if self._started:
            self._container.stop()
            self._started = False


def remove_container(container_id: str) -> None:
    """Remove a kept broker container (gone already is fine)."""
    try:
        client = DockerClient().client
        for container in client.containers.list(all=True, filters={"id": container_id}):
            container.remove(force=True)
    except Exception as exc:  # no engine, refused, API errors
        raise UserError(f"could not remove the broker container {container_id}: {exc}") from exc
