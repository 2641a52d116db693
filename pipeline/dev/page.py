"""The status web page of `pipeline dev`: the stage rows the terminal view just scraped, plus
the backlog ledger (and cohorts) read from the dev broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from pipeline.backlog.status import open_ranges
from pipeline.config import Settings
from pipeline.dev.status import StageRow
from pipeline.status_web.app import create_app
from pipeline.status_web.collector import StatusCollector, StatusSources
from pipeline.status_web.server import WebServer

BROKER_TIMEOUT_S = 5.0


@contextmanager
def status_page(
    settings: Settings,
    bootstrap: str,
    rows: Callable[[], Sequence[StageRow]],
    port: int,
) -> Iterator[str]:
    """Serves the page on 127.0.0.1 while the block runs; yields its URL."""
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    on_broker = settings.model_copy(update={"kafka": kafka})
    sources = StatusSources(
        stages=rows,
        backlog=lambda: open_ranges(on_broker, BROKER_TIMEOUT_S),
        title=f"pipeline dev · Kafka {bootstrap}",
    )
    collector = StatusCollector(sources)
    server = WebServer(create_app(collector.latest), "127.0.0.1", port)
    collector.start()
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        collector.stop()
