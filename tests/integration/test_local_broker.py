"""A real broker through the fixture path, and the KRaft broker's restart and failure paths."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer

from pipeline.adapters.kafka.broker.choice import Probes, UseKraft, choose
from pipeline.adapters.kafka.broker.kraft import KraftBroker
from pipeline.adapters.kafka.broker.launch import launch
from pipeline.errors import UserError
from tests.support.kafka import NewTopicFactory

pytestmark = pytest.mark.integration


def produce_one(bootstrap: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value=value, key=b"k")
    assert producer.flush(30) == 0


def consume_one(bootstrap: str, topic: str, group_id: str, timeout_s: float = 30) -> Message:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None:
                assert message.error() is None, message.error()
                return message
        pytest.fail(f"no message on {topic} within {timeout_s}s")
    finally:
        consumer.close()


def jvms_using(root: Path) -> list[int]:
    """Live (non-zombie) processes whose command line mentions ``root``."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(root).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def kraft_choice() -> UseKraft:
    """The local-jar broker regardless of the environment (no cluster, no Docker)."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    choice = choose(Probes(env, docker_reachable=lambda: False))
    assert isinstance(choice, UseKraft)
    return choice


@pytest.fixture
def own_broker(kraft_choice: UseKraft, tmp_path: Path) -> Iterator[KraftBroker]:
    broker = launch(kraft_choice, root=tmp_path / "broker")
    assert isinstance(broker, KraftBroker)
    yield broker
    broker.stop()


def test_session_broker_round_trips_a_message(
    kafka_bootstrap: str, new_topic: NewTopicFactory, group_id: str
) -> None:
    topic = new_topic(partitions=1)

    produce_one(kafka_bootstrap, topic, b"hello")

    message = consume_one(kafka_bootstrap, topic, group_id)
    assert (message.key(), message.value()) == (b"k", b"hello")


def test_restart_keeps_ports_and_data_and_stop_leaves_no_process(
    own_broker: KraftBroker, tmp_path: Path
) -> None:
    topic = f"restart-{uuid.uuid4().hex}"
    produce_one(own_broker.bootstrap, topic, b"before restart")  # auto-created topic
    bootstrap = own_broker.bootstrap

    own_broker.stop()
    assert jvms_using(own_broker.config.root) == []
    own_broker.start()

    assert own_broker.bootstrap == bootstrap
    message = consume_one(bootstrap, topic, f"g-{uuid.uuid4().hex}")
    assert message.value() == b"before restart"
    own_broker.stop()
    assert jvms_using(own_broker.config.root) == []


def test_a_broker_on_a_taken_port_exits_with_its_log_and_is_not_mistaken_for_the_other(
    own_broker: KraftBroker, kraft_choice: UseKraft, tmp_path: Path
) -> None:
    taken = own_broker.config.broker_port

    with pytest.raises(UserError, match=r"exited; end of .*broker\.log:\n(.|\n)*in use"):
        launch(kraft_choice, root=tmp_path / "second", broker_port=taken)

    assert jvms_using(tmp_path / "second") == []


def test_a_killed_owner_takes_its_broker_with_it(tmp_path: Path) -> None:
    """A test run killed before its teardown must not leave a broker JVM behind."""
    root = tmp_path / "orphan"
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER.format(root=str(root))],
        stdout=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"},
    )
    try:
        assert owner.stdout is not None
        lines = iter(owner.stdout.readline, b"")  # log lines come first, then the marker
        assert any(line.strip() == b"ready" for line in lines), "the broker did not start"
        assert jvms_using(root), "no JVM found for the started broker"
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 30
    while jvms_using(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not jvms_using(root), "the broker outlived the process that started it"


_OWNER = """
import os
import time
from pathlib import Path
from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.launch import launch
launch(choose(Probes(dict(os.environ), docker_reachable=lambda: False)), root=Path({root!r}))
print("ready", flush=True)
time.sleep(600)
"""
