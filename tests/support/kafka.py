"""Kafka fixtures: one real broker per test session, started through the same module as
`pipeline kafka up` (KAFKA_BOOTSTRAP_SERVERS, else a local KRaft JVM).

Docker is left out of the session's choice even where an engine runs: the fast jar broker is the
suite's default (and restartable); tests/docker/ exercises the Docker broker itself."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin re-exports NewTopic without __all__, which mypy --strict reports.
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.kraft import KraftBroker
from pipeline.adapters.kafka.broker.launch import Broker, launch
from pipeline.errors import UserError

NewTopicFactory = Callable[..., str]


class SessionBroker:
    """The session's broker; ``stop``/``start`` restart it on the same ports and data."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    @property
    def bootstrap(self) -> str:
        return self._broker.bootstrap

    @property
    def kind(self) -> str:
        return self._broker.kind

    def stop(self) -> None:
        self._restartable().stop()

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, as a crashed machine; ``start`` brings it back."""
        self._restartable().kill()

    def start(self) -> None:
        self._restartable().start()

    def close(self) -> None:
        self._broker.stop()

    def _restartable(self) -> KraftBroker:
        if not isinstance(self._broker, KraftBroker):
            pytest.fail(
                f"restarting the broker needs the self-started KRaft broker, but this session "
                f"uses the {self.kind} broker at {self.bootstrap}; unset KAFKA_BOOTSTRAP_SERVERS.",
                pytrace=False,
            )
        return self._broker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionBroker]:
    root = tmp_path_factory.mktemp("kafka-broker")
    try:
        configured = os.environ.get("PIPELINE_KAFKA__BOOTSTRAP_SERVERS")
        probes = Probes(os.environ, docker_reachable=lambda: False)
        broker = launch(choose(probes, configured), root=root)
    except UserError as exc:
        pytest.fail(f"no Kafka broker for the integration tests: {exc}", pytrace=False)
    session_broker = SessionBroker(broker)
    yield session_broker
    session_broker.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: SessionBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def group_id() -> str:
    return f"test-group-{uuid.uuid4().hex}"


@pytest.fixture
def new_topic(admin: AdminClient) -> Iterator[NewTopicFactory]:
    """``new_topic(partitions=3, config=None) -> name``: a unique topic whose partitions all
    have leaders; deleted after the test."""
    created: list[str] = []

    def create(partitions: int = 3, config: dict[str, str] | None = None) -> str:
        name = f"test-{uuid.uuid4().hex}"
        spec = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        admin.create_topics([spec])[name].result(timeout=30)
        created.append(name)
        _wait_for_leaders(admin, name, partitions, timeout_s=30)
        return name

    yield create
    if created:
        for name, future in admin.delete_topics(created, operation_timeout=30).items():
            _ignore_unknown_topic(name, future.exception(timeout=30))


def _wait_for_leaders(admin: AdminClient, topic: str, partitions: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
        if (
            found is not None
            and found.error is None
            and len(found.partitions) == partitions
            and all(p.leader >= 0 and p.error is None for p in found.partitions.values())
        ):
            return
        time.sleep(0.05)
    pytest.fail(f"topic {topic} has no leader for all {partitions} partitions after {timeout_s}s")


def _ignore_unknown_topic(name: str, error: BaseException | None) -> None:
    """A test may delete its own topic; any other failure to clean up is worth seeing."""
    if error is None:
        return
    if isinstance(error, KafkaException) and (
        error.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    ):
        return
    raise RuntimeError(f"could not delete test topic {name}") from error
