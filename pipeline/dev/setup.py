"""What `pipeline dev` prepares before any stage starts: broker, topics, demo artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.kafka.broker import dev
from pipeline.adapters.kafka.broker.choice import Probes
from pipeline.adapters.kafka.broker.existing import UseExisting
from pipeline.adapters.kafka.broker.launch import Status
from pipeline.adapters.kafka.client_config import base_client_config
from pipeline.adapters.kafka.topics.plan import Plan
from pipeline.adapters.kafka.topics.spec import load_topics
from pipeline.adapters.kafka.topics.sync import apply_topics
from pipeline.config import Settings
from pipeline.dev.artifacts import upload_demo


@dataclass(frozen=True)
class BrokerInUse:
    bootstrap: str
    description: str
    """For the summary, e.g. "the dev broker (kraft) keeps running"."""
    ours: bool
    """Whether `pipeline kafka down` stops it (False for a configured cluster)."""


def start_broker(settings: Settings, status: Status, timeout_s: float = 90.0) -> BrokerInUse:
    """The same logic as `pipeline kafka up`: a configured cluster, ours if running, else start."""
    outcome = dev.up(
        Probes(os.environ),
        settings.kafka.bootstrap_servers,
        status=status,
        start_timeout_s=timeout_s,
    )
    if isinstance(outcome, UseExisting):
        return BrokerInUse(outcome.bootstrap, f"the cluster from {outcome.origin}", ours=False)
    return BrokerInUse(outcome.broker.bootstrap, f"the dev broker ({outcome.broker.kind})", True)


def apply_dev_topics(settings: Settings, bootstrap: str, timeout_s: float = 30.0) -> Plan:
    specs = load_topics(
        settings.kafka.topics_file, drain_horizon_s=settings.backlog.drain_horizon_s
    )
    admin = AdminClient(base_client_config(settings.kafka, bootstrap))
    return apply_topics(admin, specs, settings.kafka.topic, timeout_s=timeout_s)


def upload_dev_artifacts(settings: Settings, projects: int) -> int:
    """Uploads for projects 1..``projects``; returns how many records were written."""
    return len(upload_demo(ArtifactStore(settings.symbolicate.artifacts_dir), projects))
