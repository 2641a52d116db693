"""The edge on loopback for tests, and the three stages run over what it produced."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka.admin import AdminClient

from pipeline.adapters.db import open_store
from pipeline.config import Settings
from pipeline.edge.server import EdgeThread
from pipeline.stages.registry import resolve_stage
from tests.support.pipeline import running, wait_until_done


@contextmanager
def edge_serving(settings: Settings) -> Iterator[str]:
    """The edge's base URL while it serves on a free port."""
    server = EdgeThread(settings)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def stored_record(
    settings: Settings, admin: AdminClient, project_id: int, event_id: str
) -> dict[str, Any]:
    """Runs normalize, symbolicate and store until each is caught up; the stored event."""
    specs = [(resolve_stage(n, settings), settings) for n in ("normalize", "symbolicate", "store")]
    with running(*specs):
        for spec, _ in specs:
            wait_until_done(settings.kafka.bootstrap_servers or "", spec, timeout_s=40)
    store = open_store(settings.store.dsn)
    try:
        event = store.get_event(project_id, event_id.replace("-", ""))
    finally:
        store.close()
    assert event is not None, f"event {event_id} is not in the store"
    record: dict[str, Any] = event.record
    return record
