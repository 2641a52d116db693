"""A cluster the user configured: it wins over starting any broker (DESIGN.md, step 1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class UseExisting:
    bootstrap: str
    origin: str
    """Where the address came from, for messages."""


def configured_cluster(configured: str | None, env: Mapping[str, str]) -> UseExisting | None:
    """``kafka.bootstrap_servers`` (settings, PIPELINE_KAFKA__BOOTSTRAP_SERVERS), then
    ``$KAFKA_BOOTSTRAP_SERVERS``."""
    if configured and configured.strip():
        return UseExisting(configured.strip(), "kafka.bootstrap_servers")
    if from_env := env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip():
        return UseExisting(from_env, "KAFKA_BOOTSTRAP_SERVERS")
    return None
