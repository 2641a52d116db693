"""Watching the running stages: scrape each one's /metrics, notice the ones that died."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx
import structlog

from pipeline.adapters.db import EventStore, StoreUnavailable, open_store
from pipeline.dev.processes import StageProcess
from pipeline.dev.scrape import scrape
from pipeline.dev.status import SampleWindow, StageRow, stage_row
from pipeline.dev.stored import StoreCounts, count_stored
from pipeline.generator import SendStats

log = structlog.get_logger()


class StoreReader:
    """The event database, opened on first use and again after it was unreachable."""

    def __init__(self, dsn: str, timeout_s: float) -> None:
        self._dsn = dsn
        self._timeout_s = timeout_s
        self._store: EventStore | None = None

    def counts(self) -> StoreCounts | None:
        if self._store is None:
            try:
                self._store = open_store(self._dsn, timeout_s=self._timeout_s)
            except StoreUnavailable:
                return None
        return count_stored(self._store)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


class Monitor:
    def __init__(
        self,
        stages: Sequence[StageProcess],
        http: httpx.Client,
        window_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stages = stages
        self._http = http
        self._clock = clock
        self._windows = {s.name: SampleWindow(window_s) for s in stages}
        self.died: dict[str, int] = {}
        """Stages that exited while running, with their exit codes."""
        self._load_records: tuple[float, int] | None = None
        self.rows: list[StageRow] = []
        """The rows of the last ``stage_rows`` call (the status page shows them too)."""

    def stage_rows(self) -> list[StageRow]:
        rows = []
        for stage in self._stages:
            code = stage.exit_code
            if code is not None and stage.name not in self.died:
                self.died[stage.name] = code
                log.error(
                    "dev.stage_died", stage=stage.name, exit_code=code, log=str(stage.log_path)
                )
            sample = None if code is not None else scrape(self._http, stage.port, self._clock())
            window = self._windows[stage.name]
            if sample is not None:
                window.add(sample)
            rows.append(stage_row(stage.name, code, sample is not None, window))
        self.rows = rows
        return rows

    def load_rate(self, stats: SendStats) -> float | None:
        """Records per second since the previous call."""
        now, previous = self._clock(), self._load_records
        self._load_records = (now, stats.records)
        if previous is None or now <= previous[0]:
            return None
        return (stats.records - previous[1]) / (now - previous[0])
