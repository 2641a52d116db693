"""The files of a KRaft broker: its config, its cluster id, and what its log says on failure."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserError

_STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")

LOG4J2_PROPERTIES = """\
appender.e.type=Console
appender.e.name=STDERR
appender.e.target=SYSTEM_ERR
appender.e.layout.type=PatternLayout
appender.e.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.e.ref=STDERR
logger.r.name=kafka.server.KafkaRaftServer
logger.r.level=INFO
"""


def cluster_id(new_uuid: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """22 characters of unpadded URL-safe base64 of a UUID, never starting with '-'.

    A leading '-' would be read as an option by the storage tool's argument parser.
    """
    while True:
        candidate = base64.urlsafe_b64encode(new_uuid().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


@dataclass(frozen=True)
class Quorum:
    """The nodes of a multi-node cluster, each broker and controller in one JVM on loopback."""

    node_id: int
    controller_ports: tuple[int, ...]
    """Node ``n`` (1-based) listens for the controller protocol on ``controller_ports[n - 1]``."""

    @property
    def voters(self) -> str:
        return ",".join(
            f"{node}@127.0.0.1:{port}" for node, port in enumerate(self.controller_ports, start=1)
        )

    @property
    def replication(self) -> int:
        """Internal topics on every node (at most 3), acknowledged by all but one of them."""
        return min(3, len(self.controller_ports))


def render_server_properties(
    broker_port: int, controller_port: int, log_dir: Path, quorum: Quorum | None = None
) -> str:
    """Loopback listeners, few partitions and fast KIP-848 rebalances; replication factor 1
    unless ``quorum`` makes this node one of several."""
    node_id = quorum.node_id if quorum else 1
    voters = quorum.voters if quorum else f"1@127.0.0.1:{controller_port}"
    replication = str(quorum.replication) if quorum else "1"
    min_isr = str(max(1, quorum.replication - 1)) if quorum else "1"
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir.resolve()).replace("\\", "\\\\"),
        "num.partitions": "1",
        "default.replication.factor": replication,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "group.coordinator.threads": "1",
        "log.cleaner.dedupe.buffer.size": "16777216",
        "group.consumer.min.heartbeat.interval.ms": "500",
        "group.consumer.heartbeat.interval.ms": "500",
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.session.timeout.ms": "6000",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def formatted_cluster_id(meta_properties: Path) -> str:
    """The cluster id the storage tool wrote into ``meta.properties``."""
    for line in meta_properties.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    raise UserError(f"{meta_properties} names no cluster.id; delete its directory to start afresh.")


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of the broker log without Java stack frames, which only bury the cause."""
    if not path.is_file():
        return "(no log written)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join([line for line in text if not _STACK_FRAME.match(line)][-lines:])
