"""The edge's ASGI app (Starlette: a small, typed, maintained ASGI toolkit whose request body
is a stream, so limits apply while reading; uvicorn serves it).

``POST /api/<project>/envelope/`` and the legacy ``/api/<project>/store/`` accept error events;
other envelope items (transaction, attachment, session, ...) are skipped and listed in the
answer's ``skipped``. The answer comes after the broker acknowledged the events (or, in fast
mode, once they are queued). Refusals: 401/403 auth, 400 invalid (``invalid`` outcome), 408
slow body, 413 too large, 429 quota, 503 backpressure — each with a JSON ``detail``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from pipeline.edge.auth import AuthError, Keys, public_key
from pipeline.edge.body import BadEncoding, BodyTooLarge, read_body
from pipeline.edge.client_reports import InvalidClientReport, client_report_outcomes
from pipeline.edge.envelope import InvalidEnvelope
from pipeline.edge.ingest import EventRecords, Parsed, parse_envelope_body, parse_store
from pipeline.edge.metrics import EdgeMetrics
from pipeline.edge.producer import AsyncProducer, DeliveryFailed
from pipeline.edge.quota_api import Quota
from pipeline.edge.quotas.counters import refusal_headers
from pipeline.edge.quotas.outcomes import rate_limited_outcomes
from pipeline.edge.settings import EdgeSettings
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import Outcomes, wall_ms

log = structlog.get_logger()

_INGEST_PATH = re.compile(r"/api/(?P<project_id>[0-9]{1,18})/(?P<endpoint>envelope|store)/")


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


@dataclass
class Edge:
    settings: EdgeSettings
    producer: AsyncProducer
    records: EventRecords
    outcomes: Outcomes
    quota: Quota
    metrics: EdgeMetrics
    registry: CollectorRegistry
    lag_over: Callable[[], bool] = lambda: False
    clock_ms: Callable[[], int] = wall_ms

    def __post_init__(self) -> None:
        self.keys = Keys(self.settings.projects)
        self._in_flight = 0
        # Read when scraped: nothing to update per request.
        self.metrics.in_flight.set_function(lambda: self._in_flight)

    def app(self, lifespan: Lifespan[Starlette] | None = None) -> ASGIApp:
        """Ingest POSTs go straight to their handler; everything else (health, metrics, the
        405 for a GET on an ingest path, lifespan) through Starlette. Starlette's middleware
        and routing layers cost a tenth of an ingest request's CPU, for nothing it uses."""
        routes = Starlette(
            lifespan=lifespan,
            routes=[
                Route("/api/{project_id:int}/envelope/", self._unreachable, methods=["POST"]),
                Route("/api/{project_id:int}/store/", self._unreachable, methods=["POST"]),
                Route("/health/live", self.live),
                Route("/health/ready", self.ready),
                Route("/metrics", self.prometheus),
            ],
        )

        async def edge(scope: Scope, receive: Receive, send: Send) -> None:
            match = _INGEST_PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
            if match is None or scope["method"] != "POST":
                await routes(scope, receive, send)
                return
            project_id, endpoint = int(match["project_id"]), match["endpoint"]
            parse = parse_envelope_body if endpoint == "envelope" else parse_store
            response = await self._ingest(Request(scope, receive), endpoint, parse, project_id)
            await response(scope, receive, send)

        return edge

    async def _unreachable(self, _request: Request) -> Response:
        """Only reached by a POST that did not match _INGEST_PATH: never, but a Route needs
        an endpoint for Starlette to answer other methods 405."""
        return JSONResponse({"detail": "not found"}, status_code=404)

    async def live(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(self, _request: Request) -> Response:
        """200 while serving; ``behind`` says the pipeline is over edge.max_lag. Lag is not a
        reason to be unready: every replica sees the same lag, all would leave the load balancer
        at once, and clients would get connection errors instead of a 503 with Retry-After."""
        return JSONResponse({"status": "ok", "behind": self.lag_over()})

    async def prometheus(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def _ingest(
        self,
        request: Request,
        endpoint: str,
        parse: Callable[[bytes, int], Parsed],
        project_id: int,
    ) -> Response:
        if self._in_flight >= self.settings.max_in_flight:
            response = self._refusal(Refused(503, "too many requests in flight"), "in_flight")
        else:
            self._in_flight += 1
            try:
                response = await self._handle(request, parse, project_id)
            except Refused as refused:
                response = self._refusal(refused, None)
            finally:
                self._in_flight -= 1
        self.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        return response

    async def _handle(
        self, request: Request, parse: Callable[[bytes, int], Parsed], project_id: int
    ) -> Response:
        try:
            key = public_key(request.headers, request.scope["query_string"].decode("latin-1"))
            self.keys.check(project_id, key)
        except AuthError as exc:
            raise Refused(exc.status, str(exc)) from None
        received_at_ms = self.clock_ms()
        body = await self._body(request)
        try:
            parsed = parse(body, self.settings.max_event_bytes)
        except InvalidEnvelope as exc:
            self.metrics.events.labels("invalid").inc()
            self._fire(
                [
                    self.records.outcome(
                        "invalid", "", project_id, received_at_ms, "invalid_envelope"
                    )
                ]
            )
            raise Refused(400, str(exc)) from None
        extra = self._client_reports(parsed, project_id, received_at_ms)
        if parsed.events and self.lag_over():
            self.metrics.refused.labels("lag").inc()
            raise Refused(503, "the pipeline is behind; retry later", self._retry_after())
        if parsed.events:
            decision = await self.quota.check(project_id, key, "error", len(parsed.events))
            if not decision.allowed:
                self.metrics.events.labels("rate_limited").inc(len(parsed.events))
                ids = [e.event_id for e in parsed.events]
                self._fire(
                    extra
                    + rate_limited_outcomes(
                        self.outcomes,
                        decision,
                        event_ids=ids,
                        project_id=project_id,
                        received_at_ms=received_at_ms,
                        now_ms=received_at_ms,
                    )
                )
                raise Refused(429, "over quota", refusal_headers(decision))
        records = self.records.build(
            parsed.events,
            project_id,
            received_at_ms,
            request.client.host if request.client else None,
            request.headers.get("content-type"),
        )
        if records.outcomes:
            self.metrics.events.labels("filtered").inc(len(records.outcomes))
        await self._send(records.events)
        self.metrics.events.labels("accepted").inc(len(records.events))
        self._fire(records.outcomes + extra)
        first = parsed.events[0].event_id if parsed.events else None
        return JSONResponse({"id": first, "skipped": parsed.skipped})

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Refused(400, "invalid Content-Length")
            if int(declared) > self.settings.max_body_bytes:
                raise Refused(413, f"body is larger than {self.settings.max_body_bytes} bytes")
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):  # no task, unlike wait_for
                return await read_body(
                    request.stream(),
                    request.headers.get("content-encoding"),
                    self.settings.max_body_bytes,
                    self.settings.max_decompressed_bytes,
                )
        except BodyTooLarge as exc:
            raise Refused(413, str(exc)) from None
        except BadEncoding as exc:
            raise Refused(400, str(exc)) from None
        except TimeoutError:
            raise Refused(408, "the body took too long to arrive") from None

    def _client_reports(
        self, parsed: Parsed, project_id: int, received_at_ms: int
    ) -> list[Produce]:
        records: list[Produce] = []
        for payload in parsed.client_reports:
            try:
                records += client_report_outcomes(
                    self.outcomes, payload, project_id, received_at_ms, self.clock_ms()
                )
            except InvalidClientReport as exc:
                log.info("edge.client_report_ignored", project=project_id, reason=str(exc))
        return records

    async def _send(self, records: list[Produce]) -> None:
        try:
            futures = [self.producer.send(record) for record in records]
        except BufferError:
            self.metrics.refused.labels("buffer_full").inc()
            raise Refused(
                503, "the edge's buffer is full; retry later", self._retry_after()
            ) from None
        if self.settings.fast_mode or not futures:
            return
        try:
            # librdkafka fails a record after message.timeout.ms (= ack_timeout_s); this timeout
            # only guards against delivery reports that never come.
            async with asyncio.timeout(self.settings.ack_timeout_s + 1):
                for future in futures:
                    await future
        except (DeliveryFailed, TimeoutError) as exc:
            self.metrics.refused.labels("broker").inc()
            log.warning("edge.delivery_failed", error=str(exc) or "timeout")
            raise Refused(
                503, "the broker did not acknowledge; retry later", self._retry_after()
            ) from None

    def _fire(self, records: list[Produce]) -> None:
        """Outcomes are counted, not awaited: a slow outcomes topic must not slow ingestion."""
        for record in records:
            try:
                self.producer.send(record).add_done_callback(_ignore)
            except BufferError:
                log.warning("edge.outcome_dropped", topic=record.topic)

    def _retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(self.settings.retry_after_s)}

    def _refusal(self, refused: Refused, reason: str | None) -> Response:
        if reason is not None:
            self.metrics.refused.labels(reason).inc()
            refused.headers.update(self._retry_after())
        return JSONResponse(
            {"detail": refused.detail}, status_code=refused.status, headers=refused.headers
        )


def _ignore(future: asyncio.Future[None]) -> None:
    """Retrieves the outcome's delivery error so asyncio does not log it as unhandled."""
    if not future.cancelled():
        future.exception()
