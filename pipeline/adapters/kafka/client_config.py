"""Where clients connect and with what settings: one place for every producer, consumer, admin."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from pipeline.adapters.kafka.broker.existing import configured_cluster
from pipeline.adapters.kafka.broker.state import running_dev_broker
from pipeline.config import KafkaSettings
from pipeline.errors import UserError


def resolve_bootstrap(kafka: KafkaSettings, env: Mapping[str, str] = os.environ) -> str:
    """kafka.bootstrap_servers, then $KAFKA_BOOTSTRAP_SERVERS, then the running dev broker."""
    if existing := configured_cluster(kafka.bootstrap_servers, env):
        return existing.bootstrap
    if dev := running_dev_broker(env):
        return dev.bootstrap
    raise UserError(
        "No Kafka cluster configured and no dev broker running: run `pipeline kafka up`, "
        "or set KAFKA_BOOTSTRAP_SERVERS (or kafka.bootstrap_servers)."
    )


def base_client_config(kafka: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    """librdkafka settings shared by every client; kafka.client_config may add security etc.

    librdkafka's own log lines go through Python logging (and so structlog's format) instead
    of raw ``%3|...|FAIL|`` lines on stderr.
    """
    return {
        "bootstrap.servers": bootstrap,
        "logger": logging.getLogger("librdkafka"),
        **kafka.client_config,
    }
