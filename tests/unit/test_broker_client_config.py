"""Where clients connect: settings, then KAFKA_BOOTSTRAP_SERVERS, then the running dev broker."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.kafka.broker.state import (
    DevBroker,
    read_state,
    state_file,
    write_state,
)
from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.config import KafkaSettings
from pipeline.errors import UserError


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PIPELINE_CACHE_DIR": str(tmp_path)}


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def docker_dev_broker(port: int) -> DevBroker:
    return DevBroker(
        kind="docker", bootstrap=f"127.0.0.1:{port}", broker_port=port, container_id="abc"
    )


def test_settings_win_over_the_environment(env: dict[str, str]) -> None:
    env["KAFKA_BOOTSTRAP_SERVERS"] = "env:9092"

    assert resolve_bootstrap(KafkaSettings(bootstrap_servers="cfg:9092"), env) == "cfg:9092"
    assert resolve_bootstrap(KafkaSettings(), env) == "env:9092"


def test_running_dev_broker_is_the_fallback(env: dict[str, str], listening_port: int) -> None:
    write_state(state_file(env), docker_dev_broker(listening_port))

    assert resolve_bootstrap(KafkaSettings(), env) == f"127.0.0.1:{listening_port}"


def test_a_dead_dev_broker_is_not_used(env: dict[str, str], tmp_path: Path) -> None:
    stale = DevBroker(
        kind="kraft",
        bootstrap="127.0.0.1:1",
        broker_port=1,
        controller_port=2,
        pid=os.getpid(),  # alive, but not a broker with this root
        root=tmp_path / "dev-broker",
    )
    write_state(state_file(env), stale)

    with pytest.raises(UserError, match=r"run `pipeline kafka up`.*KAFKA_BOOTSTRAP_SERVERS"):
        resolve_bootstrap(KafkaSettings(), env)


def test_nothing_configured_tells_what_to_do(env: dict[str, str]) -> None:
    with pytest.raises(UserError, match=r"run `pipeline kafka up`"):
        resolve_bootstrap(KafkaSettings(), env)


def test_state_round_trips_and_a_corrupt_file_is_a_user_error(env: dict[str, str]) -> None:
    path = state_file(env)
    write_state(path, docker_dev_broker(9092))
    assert read_state(path) == docker_dev_broker(9092)

    path.write_text("{not json")
    with pytest.raises(UserError, match="unreadable; delete it"):
        read_state(path)


def test_base_client_config_merges_extra_settings() -> None:
    kafka = KafkaSettings(client_config={"security.protocol": "SASL_SSL", "linger.ms": 5})

    config = base_client_config(kafka, "b:9092")
    assert config.pop("logger").name == "librdkafka"
    assert config == {
        "bootstrap.servers": "b:9092",
        "security.protocol": "SASL_SSL",
        "linger.ms": 5,
    }
