"""Reads the status sources on one background thread and keeps the latest document.

Browsers poll `/api/status` every couple of seconds, several of them at once perhaps; they get
the document of the last round, so broker reads happen once per interval whoever is watching.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter

from pipeline.backlog.status import RangeStatus
from pipeline.dev.status import StageRow
from pipeline.status_web.report import CohortProvider, no_cohorts, status_document

log = structlog.get_logger()

T = TypeVar("T")


@dataclass(frozen=True)
class StatusSources:
    stages: Callable[[], Sequence[StageRow]]
    backlog: Callable[[], Sequence[RangeStatus]]
    cohorts: CohortProvider = no_cohorts
    title: str = "pipeline"


class StatusCollector:
    def __init__(
        self,
        sources: StatusSources,
        registry: CollectorRegistry,
        interval_s: float = 2.0,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._sources = sources
        self._failures = Counter(
            "pipeline_status_source_failures",
            "Rounds in which a status page source (stages, backlog, cohorts) could not be read.",
            ["source"],
            registry=registry,
        )
        self._interval_s = interval_s
        self._clock_ms = clock_ms
        self._latest: dict[str, Any] = status_document(clock_ms(), None, None, None, {})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-collector", daemon=True)

    def latest(self) -> dict[str, Any]:
        return self._latest

    def ready(self) -> tuple[bool, str]:
        """Ready once a round read every source (a deployment's readiness probe)."""
        errors: dict[str, str] = self._latest["errors"]
        if self._latest["stages"] is None and not errors:
            return False, "no round read yet"
        return not errors, "; ".join(f"{k}: {v}" for k, v in errors.items()) or "sources read"

    def refresh(self) -> dict[str, Any]:
        """One round over the sources; a failing one is reported in ``errors``, not raised."""
        errors: dict[str, str] = {}
        sources = self._sources
        stages = _read("stages", sources.stages, errors)
        backlog = _read("backlog", sources.backlog, errors)
        cohorts = _read("cohorts", sources.cohorts, errors)
        self._count_failures(errors)
        self._latest = status_document(
            self._clock_ms(), stages, backlog, cohorts, errors, sources.title
        )
        return self._latest

    def _count_failures(self, errors: dict[str, str]) -> None:
        """Counted every round, logged only when a source starts failing or recovers."""
        before: dict[str, str] = self._latest["errors"]
        for source, error in errors.items():
            self._failures.labels(source).inc()
            if source not in before:
                log.warning("status.source_failed", source=source, error=error)
        for source in before.keys() - errors.keys():
            log.info("status.source_recovered", source=source)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s + 30)

    def _run(self) -> None:
        while True:
            self.refresh()
            if self._stop.wait(self._interval_s):
                return


def _read(name: str, source: Callable[[], T], errors: dict[str, str]) -> T | None:
    try:
        return source()
    except Exception as exc:  # a status page shows a failing source; it does not die of it
        errors[name] = f"{type(exc).__name__}: {exc}"
        return None
