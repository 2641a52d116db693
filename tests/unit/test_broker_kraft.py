"""The KRaft broker's pure parts: cluster id, server.properties, log tail, ports."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.kafka.broker.kraft import (
    KraftBroker,
    KraftConfig,
    free_ports,
    process_markers,
)
from pipeline.adapters.kafka.broker.kraft_files import (
    Quorum,
    cluster_id,
    log_tail,
    render_server_properties,
)


def uuids(*values: uuid.UUID) -> Iterator[uuid.UUID]:
    yield from values


def test_cluster_id_is_22_unpadded_url_safe_base64_characters_of_a_uuid() -> None:
    value = uuid.UUID("0123456789abcdef0123456789abcdef")

    result = cluster_id(lambda: value)

    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", result)
    assert base64.urlsafe_b64decode(result + "==") == value.bytes


def test_cluster_id_never_starts_with_a_dash() -> None:
    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(15))  # base64 index 62 is '-'
    assert base64.urlsafe_b64encode(dash_first.bytes).startswith(b"-")
    plain = uuid.UUID(int=1)
    generated = uuids(dash_first, plain)

    result = cluster_id(lambda: next(generated))

    assert result == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")


def test_cluster_ids_differ_by_default() -> None:
    assert cluster_id() != cluster_id()


def parse(properties: str) -> dict[str, str]:
    lines = properties.splitlines()
    assert all("=" in line for line in lines)
    return dict(line.split("=", 1) for line in lines)


def test_server_properties_single_node_on_loopback(tmp_path: Path) -> None:
    props = parse(render_server_properties(19092, 19093, tmp_path / "data"))

    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str((tmp_path / "data").resolve())
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["offsets.topic.num.partitions"] == "1"
    assert props["group.consumer.session.timeout.ms"] == "6000"


def test_a_node_of_a_three_node_quorum_names_every_voter_and_replicates_internal_topics(
    tmp_path: Path,
) -> None:
    quorum = Quorum(node_id=2, controller_ports=(19193, 19293, 19393))
    props = parse(render_server_properties(19292, 19293, tmp_path / "data", quorum))

    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19193,2@127.0.0.1:19293,3@127.0.0.1:19393"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19292,CONTROLLER://127.0.0.1:19293"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["default.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"


def test_log_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    props = parse(render_server_properties(1, 2, Path("relative")))

    assert props["log.dirs"] == str(tmp_path.resolve() / "relative")


def test_log_tail_keeps_causes_and_drops_stack_frames(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    log.write_text(
        "[t] INFO started\n"
        "java.lang.RuntimeException: boom\n"
        "\tat kafka.Foo.bar(Foo.scala:1)\n"
        "\t... 6 more\n"
        "Caused by: java.net.BindException: Address already in use\n"
    )

    assert log_tail(log, lines=2).splitlines() == [
        "java.lang.RuntimeException: boom",
        "Caused by: java.net.BindException: Address already in use",
    ]
    assert log_tail(tmp_path / "missing.log") == "(no log written)"


def test_free_ports_are_distinct() -> None:
    ports = free_ports(3)

    assert len(set(ports)) == 3
    assert all(1024 <= p <= 65535 for p in ports)


def test_markers_name_the_main_class_and_this_brokers_config(tmp_path: Path) -> None:
    config = KraftConfig("java", tmp_path / "libs", tmp_path, 1, 2)

    assert config.markers == process_markers(tmp_path)
    assert config.markers == ("kafka.Kafka", str(tmp_path / "server.properties"))
    assert config.bootstrap == "127.0.0.1:1"


def test_broker_root_must_be_absolute(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        KraftBroker(KraftConfig("java", tmp_path, Path("relative"), 1, 2))
