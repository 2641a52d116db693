"""Every schema through a real broker: encode, produce, consume, decode, compare."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from pipeline.adapters.kafka.codec import Codec, make_codec
from pipeline.config import KafkaSettings
from tests.unit.test_codec import SAMPLES, registry_client

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0


@pytest.fixture
def topic(kafka_bootstrap: str) -> Any:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = f"test.codec.{uuid.uuid4().hex}"
    futures = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    futures[name].result(timeout=DEADLINE_S)
    yield name
    admin.delete_topics([name])[name].result(timeout=DEADLINE_S)


@pytest.fixture(params=["single_object", "registry"])
def codec(request: pytest.FixtureRequest) -> Codec:
    if request.param == "registry":
        registry_client()  # skips without confluent-kafka's schemaregistry extra
        return make_codec(KafkaSettings(schema_registry_url=f"mock://{uuid.uuid4().hex}"))
    return make_codec(KafkaSettings())


def _produce_all(bootstrap: str, topic: str, codec: Codec) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failures: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err)

    for name, record in SAMPLES.items():
        value = codec.encode(name, record, topic)
        producer.produce(topic, key=name.encode(), value=value, on_delivery=on_delivery)
    assert producer.flush(DEADLINE_S) == 0, "messages still queued after the deadline"
    assert failures == []


def _consume(bootstrap: str, topic: str, count: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test.codec.{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    messages: list[Message] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(messages) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            messages.append(msg)
    finally:
        consumer.close()
    return messages


def test_every_schema_survives_a_real_broker(
    kafka_bootstrap: str, topic: str, codec: Codec
) -> None:
    _produce_all(kafka_bootstrap, topic, codec)
    messages = _consume(kafka_bootstrap, topic, len(SAMPLES))
    decoded: dict[str, dict[str, Any]] = {}
    for msg in messages:
        key, value = msg.key(), msg.value()
        assert key is not None and value is not None
        decoded[key.decode()] = codec.decode(key.decode(), value, topic)
    assert decoded == SAMPLES
