"""`pipeline run edge`: the edge's clients from settings, served by uvicorn until SIGTERM.

uvicorn (the maintained ASGI server Starlette is made for) answers SIGTERM by refusing new
connections and finishing the requests in flight; the producer is then flushed, so an event
the edge answered 200 for is on the broker. It runs on httptools (C HTTP parsing) and uvloop,
as ``uvicorn[standard]`` does in production: against h11 and asyncio's loop, the edge accepted
about twice as many requests a second and refused a flood four to five times as fast.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import structlog
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.types import ASGIApp

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import Settings
from pipeline.edge.app import Edge
from pipeline.edge.filters import EventFilter
from pipeline.edge.ingest import EventRecords
from pipeline.edge.metrics import EdgeMetrics
from pipeline.edge.producer import AsyncProducer
from pipeline.edge.quotas.factory import make_quota
from pipeline.edge.quotas.outcomes import EDGE_STAGE
from pipeline.errors import UserError
from pipeline.generator.send import RAW_TOPIC
from pipeline.runtime.clients import producer_config
from pipeline.runtime.downstream import DownstreamLagMonitor
from pipeline.stages.outcomes import OUTCOMES_TOPIC, Outcomes

log = structlog.get_logger()


def edge_app(settings: Settings, registry: CollectorRegistry | None = None) -> ASGIApp:
    """The ASGI app with its producer, quota and lag monitor, started and closed by lifespan."""
    registry = registry or CollectorRegistry()
    edge_settings, kafka = settings.edge, settings.kafka
    if not edge_settings.projects:
        raise UserError("edge.projects is empty: configure at least one project and public key")
    base = base_client_config(kafka, resolve_bootstrap(kafka))
    codec = make_codec(kafka)
    outcomes = Outcomes(codec, kafka.topic(OUTCOMES_TOPIC), EDGE_STAGE)
    # librdkafka reports within ack_timeout_s; a report later than that never comes.
    producer = AsyncProducer(_producer_config(base, settings), edge_settings.ack_timeout_s + 1)
    quota = make_quota(edge_settings.quotas, edge_settings.redis_url, registry)
    lag = _lag_monitor(base, settings)
    edge = Edge(
        settings=edge_settings,
        producer=producer,
        records=EventRecords(
            codec,
            kafka.topic(RAW_TOPIC),
            outcomes,
            EventFilter(edge_settings.max_event_age_s, edge_settings.accept_and_drop),
        ),
        outcomes=outcomes,
        quota=quota,
        metrics=EdgeMetrics(registry),
        registry=registry,
        lag_over=(lambda: lag.over_limit) if lag is not None else (lambda: False),
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        producer.start()
        if lag is not None:
            lag.start()
        try:
            yield
        finally:
            if lag is not None:
                lag.stop()
            producer.close(edge_settings.ack_timeout_s)
            await quota.close()

    return edge.app(lifespan)


def _producer_config(base: dict[str, Any], settings: Settings) -> dict[str, Any]:
    edge = settings.edge
    config = producer_config(base, "edge")
    # A request waits at most ack_timeout_s: the broker must answer (or fail) within it.
    config["message.timeout.ms"] = round(edge.ack_timeout_s * 1000)
    config["queue.buffering.max.messages"] = edge.max_in_flight * 4
    # Every request waits for its ack, so linger is client latency: at 5 ms (the stages'
    # value) 64 connections were bound by latency with the loop a quarter idle. Under load
    # batches still form while earlier requests are in flight.
    config["linger.ms"] = 1
    return config


def _lag_monitor(base: dict[str, Any], settings: Settings) -> DownstreamLagMonitor | None:
    edge, kafka = settings.edge, settings.kafka
    if edge.max_lag is None:
        return None
    return DownstreamLagMonitor(
        base,
        kafka.topic(edge.lag_group),
        kafka.topic(RAW_TOPIC),
        edge.max_lag,
        edge.lag_interval_s,
        reason="edge_lag",
    )


def uvicorn_config(app: ASGIApp, settings: Settings, port: int | None = None) -> uvicorn.Config:
    """The server options of the edge (benchmarks serve their ceiling app with the same)."""
    edge = settings.edge
    return uvicorn.Config(
        app,
        http="httptools",
        loop="uvloop",
        host=edge.host,
        port=edge.port if port is None else port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=round(edge.ack_timeout_s) + 5,
        # Past max_in_flight the edge answers 503 with Retry-After; uvicorn's own 503 (above
        # this many connections or requests) has no Retry-After, so it is the last resort:
        # at twice max_in_flight, a 512-connection flood met it in 2% of its answers.
        limit_concurrency=edge.max_in_flight * 4,
    )


def run_edge(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT; 0 on a clean stop."""
    server = uvicorn.Server(uvicorn_config(edge_app(settings), settings))
    log.info("edge.listening", host=settings.edge.host, port=settings.edge.port)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # it found: with these no-op handlers the process then exits 0 instead of dying by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _after_graceful_stop)
    server.run()
    return 0 if server.started else 1


def _after_graceful_stop(_signum: int, _frame: FrameType | None) -> None:
    """Called once uvicorn has stopped; nothing is left to do."""


class EdgeThread:
    """The edge on a background thread (tests, `pipeline dev`): ``start`` returns once bound."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        config = uvicorn_config(edge_app(settings, registry), settings)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="edge", daemon=True)

    @property
    def port(self) -> int:
        sockets = self._server.servers[0].sockets
        port: int = sockets[0].getsockname()[1]
        return port

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            raise RuntimeError("the edge did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
