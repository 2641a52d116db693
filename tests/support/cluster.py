"""Three KRaft nodes on loopback, each broker and controller in one JVM, sharing one quorum:
the smallest cluster where a broker or the controller leader can die while the rest carries on
(replication factor 3, min.insync.replicas 2, acks=all from the idempotent producers)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline.adapters.kafka.broker.choice import Probes, UseKraft, choose
from pipeline.adapters.kafka.broker.jars import download_libs
from pipeline.adapters.kafka.broker.kraft import KraftBroker, KraftConfig, free_ports
from pipeline.adapters.kafka.broker.kraft_files import Quorum, cluster_id

NODES = 3
HEAP = "384m"


class KraftCluster:
    def __init__(self, nodes: list[KraftBroker]) -> None:
        self.nodes = nodes

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def start(self) -> None:
        """All JVMs first: none answers before a majority of the voters runs."""
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_ready()

    def discard(self) -> None:
        """SIGKILL every node: a graceful stop of the last node would wait for a lost quorum."""
        for node in self.nodes:
            node.kill()

    def node(self, node_id: int) -> KraftBroker:
        return self.nodes[node_id - 1]

    def controller_leader(self, timeout_s: float = 30.0) -> int:
        """The node the live voters agree leads the metadata quorum (their quorum-state files,
        which each voter rewrites on every election)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = {_quorum_leader(node) for node in self.nodes if node.pid is not None}
            seen.discard(None)
            if len(seen) == 1:
                (leader,) = seen
                if leader is not None and self.node(leader).pid is not None:
                    return leader
            time.sleep(0.2)
        pytest.fail(f"the controller quorum agreed on no live leader in {timeout_s}s")


def _quorum_leader(node: KraftBroker) -> int | None:
    path = node.config.data_dir / "__cluster_metadata-0" / "quorum-state"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    leader = state.get("leaderId", -1)
    return leader if isinstance(leader, int) and leader > 0 else None


@contextmanager
def kraft_cluster(root: Path) -> Iterator[KraftCluster]:
    """A fresh three-node cluster under ``root`` (the jar broker: Docker is not needed)."""
    choice = choose(Probes(os.environ, docker_reachable=lambda: False))
    if not isinstance(choice, UseKraft):
        pytest.fail(f"a three-broker cluster needs Java and the Kafka jars, found {choice}")
    if choice.download is not None:
        download_libs(choice.download.mvn, choice.download.pom, choice.libs)
    ports = free_ports(2 * NODES)
    broker_ports, controller_ports = ports[:NODES], tuple(ports[NODES:])
    shared_id = cluster_id()
    nodes = [
        KraftBroker(
            KraftConfig(
                choice.java,
                choice.libs,
                (root / f"node-{node_id}").resolve(),
                broker_ports[node_id - 1],
                controller_ports[node_id - 1],
                max_heap=HEAP,
                quorum=Quorum(node_id, controller_ports),
                cluster_id=shared_id,
            ),
            start_timeout_s=120.0,
            keep=False,
        )
        for node_id in range(1, NODES + 1)
    ]
    cluster = KraftCluster(nodes)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.discard()
