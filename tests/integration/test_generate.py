"""`pipeline generate` against a real broker: every record arrives, decodable, with its header."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import typer
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from typer.testing import CliRunner, Result

from pipeline.adapters.kafka.codec import make_codec
from pipeline.cli.generate import generate
from pipeline.config import KafkaSettings, load_settings
from pipeline.errors import UserError
from pipeline.generator import EventFactory, Mix
from pipeline.runtime.messages import RECEIVED_AT_HEADER
from tests.support.kafka import NewTopicFactory

pytestmark = pytest.mark.integration

PARTITIONS = 3


def invoke(*args: str) -> Result:
    """The command as the root app registers it; settings come in as the root would load them."""
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("generate")(generate)
    return CliRunner().invoke(app, ["generate", *args], obj=load_settings())


@pytest.fixture(autouse=True)
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kafka_bootstrap: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPELINE_CONFIG", raising=False)
    monkeypatch.setenv("PIPELINE_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)


def expected_records(mix: Mix, seed: int, events: int) -> int:
    """What the same seed generates: the mix decides duplicates before any clock is read."""
    factory = EventFactory(mix, random.Random(seed))
    records = distinct = 0
    while distinct < events:
        batch = factory.next(0)
        distinct += 1
        records += len(batch)
    return records


def read_all(
    bootstrap: str, topic: str, group_id: str, total: int
) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    found: list[tuple[bytes, bytes, dict[str, bytes]]] = []
    deadline = time.monotonic() + 30
    try:
        while len(found) < total and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            key, value = msg.key(), msg.value()
            assert key is not None and value is not None
            headers = msg.headers() or []
            assert isinstance(headers, list)
            found.append((key, value, {k: v for k, v in headers if isinstance(v, bytes)}))
    finally:
        consumer.close()
    return found


def high_watermarks(bootstrap: str, topic: str, group_id: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        )
    finally:
        consumer.close()


def test_every_event_and_duplicate_lands_with_its_received_at_header(
    new_topic: NewTopicFactory, kafka_bootstrap: str, group_id: str
) -> None:
    topic = new_topic(partitions=PARTITIONS)
    args = ["--count", "200", "--rate", "0", "--seed", "11", "--projects", "3"]
    args += ["--invalid-ratio", "0.1", "--duplicate-ratio", "0.1", "--topic", topic]
    result = invoke(*args)
    assert result.exit_code == 0, result.output

    total = expected_records(Mix(projects=3, invalid_ratio=0.1, duplicate_ratio=0.1), 11, 200)
    assert total > 200
    assert high_watermarks(kafka_bootstrap, topic, group_id) == total
    records = read_all(kafka_bootstrap, topic, group_id, total)
    assert len(records) == total
    codec = make_codec(KafkaSettings())
    event_ids = set()
    for key, value, headers in records:
        record = codec.decode("raw_event", value, topic)
        assert headers[RECEIVED_AT_HEADER] == str(record["received_at_ms"]).encode("ascii")
        assert key == record["event_id"].encode()
        event_ids.add(record["event_id"])
    assert len(event_ids) == 200
    assert f"{total:,}" in result.output  # the summary counts what the broker acknowledged


def test_the_rate_is_kept(new_topic: NewTopicFactory) -> None:
    topic = new_topic(partitions=PARTITIONS)
    args = ["--count", "30", "--rate", "20", "--duplicate-ratio", "0", "--topic", topic]
    began = time.monotonic()
    result = invoke(*args)
    elapsed = time.monotonic() - began
    assert result.exit_code == 0, result.output
    # The first record goes at once, the other 29 one every 50 ms.
    assert elapsed >= 29 / 20


def test_a_missing_topic_is_a_user_error() -> None:
    result = invoke("--count", "1", "--topic", "no-such-topic-x")
    assert isinstance(result.exception, UserError)
    assert "does not exist" in str(result.exception)
