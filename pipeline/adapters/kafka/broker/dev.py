"""The developer's long-lived broker behind `pipeline kafka up|down|status`."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.docker import DockerBroker, remove_container
from pipeline.adapters.kafka.broker.existing import UseExisting, configured_cluster
from pipeline.adapters.kafka.broker.kraft import KraftBroker, process_markers
from pipeline.adapters.kafka.broker.launch import Broker, Status, launch, no_status
from pipeline.adapters.kafka.broker.process import terminate
from pipeline.adapters.kafka.broker.readiness import broker_count
from pipeline.adapters.kafka.broker.state import (
    DevBroker,
    dev_broker_root,
    read_state,
    state_file,
    write_state,
)
from pipeline.adapters.kafka.client_config import base_client_config
from pipeline.config import KafkaSettings
from pipeline.errors import UserError


@dataclass(frozen=True)
class Started:
    broker: DevBroker


@dataclass(frozen=True)
class AlreadyRunning:
    broker: DevBroker


UpOutcome = Started | AlreadyRunning | UseExisting


def up(
    probes: Probes,
    configured: str | None,
    *,
    port: int | None = None,
    status: Status = no_status,
    start_timeout_s: float = 90.0,
) -> UpOutcome:
    """Start the dev broker unless a cluster is configured or ours already runs."""
    if existing := configured_cluster(configured, probes.env):
        return existing
    path = state_file(probes.env)
    current = read_state(path)
    if current is not None and current.is_running():
        if port is not None and port != current.broker_port:
            raise UserError(
                f"the dev broker already runs at {current.bootstrap}; "
                f"run `pipeline kafka down` before starting it on port {port}."
            )
        return AlreadyRunning(current)
    broker = launch(
        choose(probes),
        root=dev_broker_root(probes.env),
        broker_port=port,
        keep=True,
        status=status,
        start_timeout_s=start_timeout_s,
    )
    state = _describe(broker)
    write_state(path, state)
    return Started(state)


def down(probes: Probes, grace_s: float = 30.0) -> DevBroker | None:
    """Stop the dev broker recorded in the state file; None when there is none."""
    path = state_file(probes.env)
    state = read_state(path)
    if state is None:
        return None
    if state.kind == "kraft" and state.pid is not None and state.root is not None:
        terminate(state.pid, process_markers(state.root), grace_s)
    elif state.container_id is not None:
        remove_container(state.container_id)
    path.unlink(missing_ok=True)
    return state


@dataclass(frozen=True)
class Health:
    bootstrap: str
    kind: str
    brokers: int
    pid: int | None = None


def health(probes: Probes, kafka: KafkaSettings, timeout_s: float = 5.0) -> Health | None:
    """The broker clients would use and how many brokers answer; None when there is none."""
    if existing := configured_cluster(kafka.bootstrap_servers, probes.env):
        bootstrap, kind, pid = existing.bootstrap, f"external ({existing.origin})", None
    elif state := read_state(state_file(probes.env)):
        bootstrap, kind, pid = state.bootstrap, state.kind, state.pid
    else:
        return None
    brokers = broker_count(base_client_config(kafka, bootstrap), timeout_s)
    return Health(bootstrap, kind, brokers, pid)


def _describe(broker: Broker) -> DevBroker:
    if isinstance(broker, KraftBroker):
        cfg = broker.config
        return DevBroker(
            kind="kraft",
            bootstrap=broker.bootstrap,
            broker_port=cfg.broker_port,
            controller_port=cfg.controller_port,
            pid=broker.pid,
            root=cfg.root,
        )
    if isinstance(broker, DockerBroker):
        return DevBroker(
            kind="docker",
            bootstrap=broker.bootstrap,
            broker_port=int(broker.bootstrap.rpartition(":")[2]),
            container_id=broker.container_id,
        )
    raise TypeError(f"not a broker the dev commands start: {broker.kind}")
