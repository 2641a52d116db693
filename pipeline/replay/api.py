"""Replay from Python: plan a range, then copy it; `pipeline replay` is a thin layer over this."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from pipeline.errors import UserError
from pipeline.rate_limit import rate_limiter
from pipeline.replay.copy import RangeCopier
from pipeline.replay.ranges import PartitionRange, RangeSpec, plan_ranges, select_partitions
from pipeline.replay.routing import BackFromDlq, CopyTo, Route
from pipeline.replay.sink import ReplaySink
from pipeline.replay.source import ReplaySource
from pipeline.replay.summary import ReplaySummary

log = structlog.get_logger()


@dataclass(frozen=True)
class ReplayPlan:
    source: str
    ranges: tuple[PartitionRange, ...]

    @property
    def total(self) -> int:
        return sum(r.count for r in self.ranges)


@dataclass(frozen=True)
class ReplayOptions:
    """How to run a planned replay. ``rate`` is records per second (None: as fast as possible)."""

    dry_run: bool = False
    rate: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    """Set it (e.g. from a signal handler) to stop after the current record."""
    on_progress: Callable[[int], None] = lambda _done: None
    """Called with the offsets handled so far, about every poll."""
    timeout_s: float = 30.0
    """For each metadata request."""
    flush_timeout_s: float = 30.0
    """For the last delivery reports."""
    clock: Callable[[], float] = time.monotonic


def plan_replay(
    client_config: Mapping[str, Any],
    source: str,
    *,
    spec: RangeSpec | None = None,
    partitions: Iterable[int] = (),
    target: str | None = None,
    timeout_s: float = 30.0,
) -> ReplayPlan:
    """Resolve ``spec`` on ``source`` (broker-side names) into fixed per-partition ranges.

    Raises UserError for an unknown topic or partition and for a range without records.
    """
    spec = spec or RangeSpec()
    with ReplaySource(client_config, timeout_s) as reader:
        selected = select_partitions(source, reader.require(source), partitions)
        if target is not None:
            reader.require(target)
        watermarks = reader.watermarks(source, selected)
        offsets_at = reader.offsets_at(source, selected, spec.times_ms)
    plan = ReplayPlan(source, plan_ranges(spec, watermarks, offsets_at))
    if plan.total == 0:
        raise UserError(f"{source} has no records {_describe(spec)}")
    return plan


def run_replay(
    client_config: Mapping[str, Any],
    plan: ReplayPlan,
    route: Route,
    options: ReplayOptions | None = None,
) -> ReplaySummary:
    """Copy the planned ranges through ``route``; the summary says what was written."""
    options = options or ReplayOptions()
    summary = ReplaySummary(source=plan.source, dry_run=options.dry_run, planned=plan.total)
    limiter = rate_limiter(options.rate, options.clock)
    log.info("replay.started", source=plan.source, records=plan.total, dry_run=options.dry_run)
    started = options.clock()
    with ReplaySource(client_config, options.timeout_s) as reader:
        sink = None if options.dry_run else ReplaySink(client_config)
        copier = RangeCopier(
            reader,
            sink,
            plan.source,
            plan.ranges,
            route,
            summary,
            limiter=limiter,
            stop=options.stop,
        )
        copier.run(
            options.on_progress, flush_timeout_s=options.flush_timeout_s, clock=options.clock
        )
    summary.elapsed_s = options.clock() - started
    log.info(
        "replay.finished",
        source=plan.source,
        read=summary.read,
        written=summary.written,
        skipped=sum(summary.skipped.values()),
        failed=summary.failed,
        unacknowledged=summary.unacknowledged,
        interrupted=summary.interrupted,
    )
    return summary


def replay_range(
    client_config: Mapping[str, Any],
    source: str,
    target: str,
    *,
    spec: RangeSpec | None = None,
    partitions: Iterable[int] = (),
    options: ReplayOptions | None = None,
) -> ReplaySummary:
    """Copy a range of ``source`` into ``target`` (broker-side names), headers and keys kept."""
    return _plan_and_run(client_config, source, target, CopyTo(target), spec, partitions, options)


def replay_dlq(
    client_config: Mapping[str, Any],
    source: str,
    target: str | None = None,
    *,
    stages: Iterable[str] = (),
    error_contains: str | None = None,
    spec: RangeSpec | None = None,
    partitions: Iterable[int] = (),
    options: ReplayOptions | None = None,
) -> ReplaySummary:
    """Send DLQ records back to their origin topic (or ``target``) without their dlq.* headers.

    Records without dlq headers are skipped and counted under ``Skip.NOT_A_DLQ_RECORD``.
    """
    route = BackFromDlq(target, frozenset(stages), error_contains)
    return _plan_and_run(client_config, source, target, route, spec, partitions, options)


def _plan_and_run(
    client_config: Mapping[str, Any],
    source: str,
    target: str | None,
    route: Route,
    spec: RangeSpec | None,
    partitions: Iterable[int],
    options: ReplayOptions | None,
) -> ReplaySummary:
    options = options or ReplayOptions()
    plan = plan_replay(
        client_config,
        source,
        spec=spec,
        partitions=partitions,
        target=target,
        timeout_s=options.timeout_s,
    )
    return run_replay(client_config, plan, route, options)


def _describe(spec: RangeSpec) -> str:
    parts = []
    if spec.start_time_ms is not None:
        parts.append(f"at or after {_iso(spec.start_time_ms)}")
    if spec.start_offset is not None:
        parts.append(f"from offset {spec.start_offset}")
    if spec.end_time_ms is not None:
        parts.append(f"before {_iso(spec.end_time_ms)}")
    if spec.end_offset is not None:
        parts.append(f"before offset {spec.end_offset}")
    return " and ".join(parts) or "(it is empty, or retention deleted them)"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")
