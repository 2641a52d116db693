"""Run one stage as a process: clients from settings, signals, the health port, exit code."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import structlog
from prometheus_client import CollectorRegistry

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.config import Settings
from pipeline.observability.http import HealthServer
from pipeline.observability.metrics import StageMetrics
from pipeline.runtime.clients import consumer_config, producer_config
from pipeline.runtime.downstream import DownstreamLagMonitor
from pipeline.runtime.engine import StageRuntime
from pipeline.runtime.stage import StageSpec

log = structlog.get_logger()


def build_runtime(
    spec: StageSpec, settings: Settings, registry: CollectorRegistry | None = None
) -> StageRuntime:
    base = base_client_config(settings.kafka, resolve_bootstrap(settings.kafka))
    limits = settings.runtime
    downstream = None
    if limits.downstream_group and limits.downstream_topic and limits.downstream_max_lag:
        downstream = DownstreamLagMonitor(
            base,
            limits.downstream_group,
            settings.kafka.topic(limits.downstream_topic),
            limits.downstream_max_lag,
            limits.downstream_check_interval_s,
        )
    return StageRuntime(
        spec,
        consumer_config(base, settings.kafka, spec.group_id, spec.name),
        producer_config(base, spec.name),
        limits,
        StageMetrics(registry or CollectorRegistry(), spec.name),
        downstream=downstream,
    )


def run_stage(spec: StageSpec, settings: Settings) -> int:
    """Block until SIGTERM/SIGINT (graceful) or a second signal (immediate); return exit code."""
    registry = CollectorRegistry()
    runtime = build_runtime(spec, settings, registry)
    server = None
    if settings.runtime.http_port:
        server = HealthServer(settings.runtime.http_port, registry, runtime.alive, runtime.ready)
        server.start()
        log.info("runtime.http_listening", port=server.port)
    if threading.current_thread() is threading.main_thread():
        _install_signal_handlers(runtime)
    try:
        return runtime.run()
    finally:
        if server is not None:
            server.stop()


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
