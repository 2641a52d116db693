"""Start the broker a Choice names: the one entry used by `pipeline kafka up` and the tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.adapters.kafka.broker.choice import Choice, UseDocker, UseKraft
from pipeline.adapters.kafka.broker.docker import DockerBroker
from pipeline.adapters.kafka.broker.existing import UseExisting
from pipeline.adapters.kafka.broker.jars import download_libs
from pipeline.adapters.kafka.broker.kraft import KraftBroker, KraftConfig, free_ports

Status = Callable[[str], AbstractContextManager[object]]
"""Shows a long step while it runs; the CLI passes rich's ``Console.status``."""


def no_status(_message: str) -> AbstractContextManager[object]:
    return nullcontext()


class Broker(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def bootstrap(self) -> str: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ExistingCluster:
    bootstrap: str
    origin: str
    kind: str = "external"

    def stop(self) -> None:
        """Someone else's cluster: nothing to stop."""


def launch(
    choice: Choice,
    *,
    root: Path,
    broker_port: int | None = None,
    keep: bool = False,
    status: Status = no_status,
    start_timeout_s: float = 90.0,
) -> Broker:
    """Start (or adopt) a broker and return once it answers.

    ``root`` is the KRaft broker's directory; ``keep`` lets the broker (JVM or container)
    outlive this process, as `pipeline kafka up` needs; without it, it dies with this process.
    """
    match choice:
        case UseExisting(bootstrap=bootstrap, origin=origin):
            return ExistingCluster(bootstrap, origin)
        case UseDocker():
            container = DockerBroker(port=broker_port, keep=keep)
            with status("Starting Kafka in Docker (testcontainers)..."):
                container.start(start_timeout_s)
            return container
        case UseKraft(java=java, libs=libs, download=download):
            if download is not None:
                with status(f"Downloading the Kafka jars with Maven into {libs}..."):
                    download_libs(download.mvn, download.pom, libs)
            port = broker_port or free_ports(1)[0]
            controller_port = next(p for p in free_ports(2) if p != port)
            config = KraftConfig(java, libs, root.resolve(), port, controller_port)
            broker = KraftBroker(config, start_timeout_s=start_timeout_s, keep=keep)
            with status(f"Starting the Kafka broker at {config.bootstrap}..."):
                broker.start()
            return broker
