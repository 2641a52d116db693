"""Real SDKs against the edge: sentry-sdk (Python) and @sentry/node send a raised exception
to a DSN on the edge; the event reaches the store with its stack frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sentry_sdk
from confluent_kafka.admin import AdminClient

from pipeline.config import Settings
from pipeline.edge.settings import EdgeSettings
from tests.support.edge import edge_serving, stored_record
from tests.support.pipeline import pipeline_settings
from tests.support.sentry_node import send_node_exception, sentry_node_dir

pytestmark = pytest.mark.integration

PROJECT, KEY = 5, "fedcba9876543210fedcba9876543210"


@pytest.fixture
def settings(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> Settings:
    edge = EdgeSettings(port=0, projects={PROJECT: [KEY]})
    return pipeline_settings(kafka_bootstrap, prefix, tmp_path, edge=edge)


@pytest.fixture
def dsn(settings: Settings) -> Iterator[str]:
    with edge_serving(settings) as url:
        yield url.replace("http://", f"http://{KEY}@") + f"/{PROJECT}"


def stored_functions(settings: Settings, admin: AdminClient, event_id: str) -> list[str]:
    record = stored_record(settings, admin, PROJECT, event_id)
    return [str(f.get("function")) for x in record["exceptions"] for f in x["frames"]]


def test_python_sdk_exception_is_stored_with_frames(
    dsn: str, settings: Settings, admin: AdminClient
) -> None:
    def fails_deep_inside() -> None:
        raise ValueError("the edge should see this")

    sentry_sdk.init(dsn=dsn, default_integrations=False, auto_enabling_integrations=False)
    try:
        try:
            fails_deep_inside()
        except ValueError as exc:
            event_id = sentry_sdk.capture_exception(exc)
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: later tests send nothing
    assert event_id is not None
    assert "fails_deep_inside" in stored_functions(settings, admin, event_id)


def test_node_sdk_exception_is_stored_with_frames(
    dsn: str, settings: Settings, admin: AdminClient
) -> None:
    directory = sentry_node_dir()
    event_id = send_node_exception(directory, dsn)
    assert "failsInsideNode" in stored_functions(settings, admin, event_id)
