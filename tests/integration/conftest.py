"""Fixtures the pipeline's broker tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.pipeline import pipeline_topics


@pytest.fixture
def prefix(admin: AdminClient) -> Iterator[str]:
    """A fresh prefix with topics.yaml applied under it; a module that manages its own topics
    overrides this fixture."""
    with pipeline_topics(admin) as value:
        yield value
