"""The status web page of `pipeline dev`: the stage rows the terminal view just scraped, plus
the cohort snapshot and the backlog ledger read from the dev broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from pipeline.backlog.status import open_ranges
from pipeline.cohorts.read import read_snapshot
from pipeline.config import Settings
from pipeline.dev.status import StageRow
from pipeline.status_web.collector import StatusSources
from pipeline.status_web.server import serving

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
        cohorts=lambda: read_snapshot(on_broker, timeout_s=BROKER_TIMEOUT_S).to_json(),
        title=f"pipeline dev · Kafka {bootstrap}",
    )
    with serving(sources, "127.0.0.1", port, interval_s=2.0) as url:
        yield url
