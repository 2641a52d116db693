"""Run one stage as a process: clients from settings, signals, the health port, exit code.

A live run subscribes with the stage's group and, with ``backlog.enabled``, slices stale
backlogs off into the ledger. A drain run (``pipeline run <stage> --backlog``) works those
ranges off in the group ``<live group>-backlog`` with manual assignment, recording progress in
the ledger, and pauses while the live group is behind.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.adapters.kafka.codec import make_codec
from pipeline.backlog.drain import LIVE_BEHIND, DrainController
from pipeline.backlog.ledger import LedgerReader, LedgerWriter
from pipeline.backlog.ledger_state import LedgerState
from pipeline.backlog.metrics import BacklogMetrics
from pipeline.backlog.rate import RateGate
from pipeline.backlog.slicer import Slicer, SliceRule
from pipeline.backlog.watermarks import Watermarks
from pipeline.cohorts.book import CohortBook
from pipeline.cohorts.metrics import CohortCollector
from pipeline.config import Settings
from pipeline.observability.http import HealthServer
from pipeline.observability.metrics import LATENCY_BUCKETS, StageMetrics
from pipeline.runtime.clients import consumer_config, producer_config
from pipeline.runtime.downstream import DownstreamLagMonitor
from pipeline.runtime.engine import StageRuntime
from pipeline.runtime.stage import StageSpec

log = structlog.get_logger()


def drain_group(live_group: str) -> str:
    return f"{live_group}-backlog"


def build_runtime(
    spec: StageSpec, settings: Settings, registry: CollectorRegistry | None = None
) -> StageRuntime:
    """The live runtime of ``spec``, with the backlog slicer when ``backlog.enabled``."""
    registry = registry or CollectorRegistry()
    base = _base_config(settings)
    metrics = _metrics(registry, spec, settings)
    runtime = StageRuntime(
        spec,
        consumer_config(base, settings.kafka, spec.group_id, spec.name),
        producer_config(base, spec.name),
        settings.runtime,
        metrics,
        downstream=_next_stage_monitor(settings, base),
        cohorts=_cohort_book(spec, settings, metrics, registry),
        cohort_publish_interval_s=settings.cohorts.publish_interval_s,
    )
    if settings.backlog.enabled:
        runtime.add_tick_hook(_slicer(spec, settings, base, registry))
    return runtime


@dataclass(frozen=True)
class Drain:
    """A backlog-drain runtime and its controller; ``run`` reads the ledger first."""

    runtime: StageRuntime
    controller: DrainController
    ledger_timeout_s: float

    def run(self) -> int:
        try:
            self.controller.start(self.ledger_timeout_s)
            return self.runtime.run()
        finally:
            self.controller.close()


def build_drain(
    spec: StageSpec, settings: Settings, registry: CollectorRegistry | None = None
) -> Drain:
    """The drain of ``spec``'s live group: same stage logic, only the sliced offsets.

    It pauses while the live group is behind and, like the live stage, while the next stage is.
    """
    registry = registry or CollectorRegistry()
    base = _base_config(settings)
    backlog = settings.backlog
    codec = make_codec(settings.kafka)
    ledger_topic = settings.kafka.topic(backlog.ledger_topic)
    name = f"{spec.name}-backlog"
    controller = DrainController(
        stage=spec.name,
        live_group=spec.group_id,
        topic=spec.input_topic,
        writer=LedgerWriter(
            producer_config(base, name), ledger_topic, codec, backlog.ledger_timeout_s
        ),
        reader=LedgerReader(base, ledger_topic, codec, LedgerState(), backlog.ledger_timeout_s),
        watermarks=Watermarks(base, backlog.ledger_timeout_s),
        metrics=BacklogMetrics(registry, spec.name),
        refresh_interval_s=backlog.refresh_interval_s,
        rate=RateGate(backlog.drain_max_rate, time.monotonic) if backlog.drain_max_rate else None,
        pressure=[m for m in [_next_stage_monitor(settings, base)] if m is not None],
    )
    drain_spec = replace(spec, group_id=drain_group(spec.group_id))
    consumer = consumer_config(base, settings.kafka, drain_spec.group_id, name)
    # Stop at an expired offset instead of skipping to the earliest: the controller reports it.
    consumer["auto.offset.reset"] = "error"
    live = DownstreamLagMonitor(
        base,
        spec.group_id,
        spec.input_topic,
        backlog.live_max_lag,
        backlog.live_check_interval_s,
        reason=LIVE_BEHIND,
    )
    metrics = _metrics(registry, spec, settings)
    runtime = StageRuntime(
        drain_spec,
        consumer,
        producer_config(base, name),
        settings.runtime.model_copy(update={"commit_interval_s": backlog.progress_interval_s}),
        metrics,
        downstream=live,
        subscribe=False,
        commit_to=controller.commit_to,
        cohorts=_cohort_book(drain_spec, settings, metrics, registry, drain=True),
        cohort_publish_interval_s=settings.cohorts.publish_interval_s,
    )
    runtime.add_tick_hook(controller)
    return Drain(runtime, controller, backlog.ledger_timeout_s)


def run_stage(spec: StageSpec, settings: Settings, backlog: bool = False) -> int:
    """Block until SIGTERM/SIGINT (graceful) or a second signal (immediate); return exit code.

    ``backlog`` runs the stage's backlog drain instead of its live consumer.
    """
    registry = CollectorRegistry()
    run: Callable[[], int]
    if backlog:
        # Lower priority for the whole process, workers included: live stages come first.
        os.nice(settings.backlog.drain_nice)
        drain = build_drain(spec, settings, registry)
        runtime, run = drain.runtime, drain.run
    else:
        runtime = build_runtime(spec, settings, registry)
        run = runtime.run
    server = None
    if settings.runtime.http_port is not None:
        server = HealthServer(settings.runtime.http_port, registry, runtime.alive, runtime.ready)
        server.start()
        log.info("runtime.http_listening", port=server.port)
    if threading.current_thread() is threading.main_thread():
        _install_signal_handlers(runtime)
    try:
        return run()
    finally:
        if server is not None:
            server.stop()


def _metrics(registry: CollectorRegistry, spec: StageSpec, settings: Settings) -> StageMetrics:
    return StageMetrics(registry, spec.name, cohort_width_s=settings.cohorts.width_s)


def _cohort_book(
    spec: StageSpec,
    settings: Settings,
    metrics: StageMetrics,
    registry: CollectorRegistry,
    drain: bool = False,
) -> CohortBook | None:
    cohorts = settings.cohorts
    if not cohorts.enabled:
        return None
    book = CohortBook(
        stage=spec.name,
        group=spec.group_id,
        topic=settings.kafka.topic(cohorts.topic),
        width_ms=cohorts.width_s * 1000,
        keep=cohorts.keep,
        instance=f"{socket.gethostname()}-{os.getpid()}",
        latency=lambda: metrics.cohorts,
        bounds=LATENCY_BUCKETS,
        drain=drain,
    )
    registry.register(CohortCollector(book))
    return book


def _base_config(settings: Settings) -> dict[str, Any]:
    return base_client_config(settings.kafka, resolve_bootstrap(settings.kafka))


def _next_stage_monitor(settings: Settings, base: dict[str, Any]) -> DownstreamLagMonitor | None:
    limits = settings.runtime
    if not (limits.downstream_group and limits.downstream_topic and limits.downstream_max_lag):
        return None
    return DownstreamLagMonitor(
        base,
        limits.downstream_group,
        settings.kafka.topic(limits.downstream_topic),
        limits.downstream_max_lag,
        limits.downstream_check_interval_s,
    )


def _slicer(
    spec: StageSpec, settings: Settings, base: dict[str, Any], registry: CollectorRegistry
) -> Slicer:
    backlog = settings.backlog
    writer = LedgerWriter(
        producer_config(base, f"{spec.name}-ledger"),
        settings.kafka.topic(backlog.ledger_topic),
        make_codec(settings.kafka),
        backlog.ledger_timeout_s,
    )
    rule = SliceRule(round(backlog.stale_after_s * 1000), backlog.min_slice_messages)
    return Slicer(spec.name, spec.group_id, writer, BacklogMetrics(registry, spec.name), rule)


def _install_signal_handlers(runtime: StageRuntime) -> None:
    received: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        if received:
            log.warning("runtime.second_signal", signal=signum)
            os._exit(128 + signum)
        received.append(signum)
        log.info("runtime.signal", signal=signal.Signals(signum).name)
        runtime.request_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
