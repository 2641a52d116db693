"""Provisional: a broker from KAFKA_BOOTSTRAP_SERVERS. Replaced by the local-broker fixtures."""

import os

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
