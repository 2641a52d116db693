"""Is a broker there? A TCP connect first (cheap, quiet), then the broker's own metadata."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

Readiness = Literal["ready", "exited", "timeout"]


def first_address(bootstrap: str) -> tuple[str, int]:
    """Host and port of the first entry of a ``host:port,...`` list (IPv6 in brackets)."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


def tcp_open(bootstrap: str, timeout_s: float) -> bool:
    try:
        with socket.create_connection(first_address(bootstrap), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ClusterView:
    cluster_id: str | None
    brokers: int


def describe_cluster(client_config: Mapping[str, Any], timeout_s: float) -> ClusterView | None:
    """Cluster id and broker count; None when it does not answer within ``timeout_s``."""
    admin = AdminClient({**client_config, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return None
    cluster_id: object = metadata.cluster_id  # annotated as None by the library; a str here
    return ClusterView(cluster_id if isinstance(cluster_id, str) else None, len(metadata.brokers))


def broker_count(client_config: Mapping[str, Any], timeout_s: float) -> int:
    """Brokers in the cluster's metadata; 0 when it does not answer within ``timeout_s``."""
    view = describe_cluster(client_config, timeout_s)
    return view.brokers if view else 0


def wait_ready(
    bootstrap: str,
    cluster_id: str,
    *,
    timeout_s: float,
    alive: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = 0.2,
) -> Readiness:
    """Poll until the broker answers, its process exits, or ``timeout_s`` passes.

    The cluster id must match: whatever else listens on the port is not the broker we started.
    """
    deadline = clock() + timeout_s
    while clock() < deadline:
        if not alive():
            return "exited"
        if tcp_open(bootstrap, poll_s):
            view = describe_cluster({"bootstrap.servers": bootstrap}, 2.0)
            if view and view.cluster_id == cluster_id and view.brokers:
                return "ready"
        time.sleep(poll_s)
    return "timeout"
