"""The edge's ASGI app: ingest requests are served on raw ASGI, everything else (health,
metrics, 404/405, lifespan) by Starlette, a small, typed, maintained ASGI toolkit; uvicorn serves
both. The body is read as it arrives, so limits apply while reading.

``POST /api/<project>/envelope/`` and the legacy ``/api/<project>/store/`` accept error events;
other envelope items (transaction, attachment, session, ...) are skipped and listed in the
answer's ``skipped``. The answer comes after the broker acknowledged the events (or, in fast
mode, once they are queued). Refusals: 401/403 auth, 400 invalid (``invalid`` outcome), 408
slow body, 413 too large, 429 quota, 503 backpressure — each with a JSON ``detail``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from pipeline.edge.auth import AUTH_HEADER, AuthError, Keys, public_key
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


_HEAD_FIELDS = (AUTH_HEADER, "content-length", "content-encoding", "content-type")
_HEAD_NAMES = {name.encode(): name for name in _HEAD_FIELDS}
_JSON = (b"content-type", b"application/json")


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class ClientGone(Exception):
    """The client disconnected before its body arrived whole."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, send: Send) -> None:
        content = orjson.dumps(self.body)
        headers = [_JSON, (b"content-length", str(len(content)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


@dataclass(frozen=True)
class Head:
    """What an ingest request is handled by: the few headers the edge reads, and the peer."""

    headers: dict[str, str]
    query_string: str
    client_host: str | None

    @classmethod
    def of(cls, scope: Scope) -> Head:
        """One pass over the raw headers (ASGI lowercases names); the first of a name wins."""
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            wanted = _HEAD_NAMES.get(name)
            if wanted is not None and wanted not in headers:
                headers[wanted] = value.decode("latin-1")
        client = scope.get("client")
        return cls(headers, scope["query_string"].decode("latin-1"), client[0] if client else None)


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
        and routing layers, its Request and its JSONResponse cost a share of every ingest
        request's CPU, for nothing it uses."""
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
            answer = await self._ingest(Head.of(scope), receive, endpoint, parse, project_id)
            await answer.send(send)

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
        head: Head,
        receive: Receive,
        endpoint: str,
        parse: Callable[[bytes, int], Parsed],
        project_id: int,
    ) -> Answer:
        if self._in_flight >= self.settings.max_in_flight:
            answer = self._refusal(Refused(503, "too many requests in flight"), "in_flight")
        else:
            self._in_flight += 1
            try:
                answer = await self._handle(head, receive, parse, project_id)
            except Refused as refused:
                answer = self._refusal(refused, None)
            finally:
                self._in_flight -= 1
        self.metrics.answered(endpoint, answer.status)
        return answer

    async def _handle(
        self, head: Head, receive: Receive, parse: Callable[[bytes, int], Parsed], project_id: int
    ) -> Answer:
        try:
            key = public_key(head.headers, head.query_string)
            self.keys.check(project_id, key)
        except AuthError as exc:
            raise Refused(exc.status, str(exc)) from None
        received_at_ms = self.clock_ms()
        body = await self._body(head.headers, receive)
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
            head.client_host,
            head.headers.get("content-type"),
        )
        if records.outcomes:
            self.metrics.events.labels("filtered").inc(len(records.outcomes))
        await self._send(records.events)
        self.metrics.accepted.inc(len(records.events))
        self._fire(records.outcomes + extra)
        first = parsed.events[0].event_id if parsed.events else None
        return Answer(200, {"id": first, "skipped": parsed.skipped})

    async def _body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Refused(400, "invalid Content-Length")
            if int(declared) > self.settings.max_body_bytes:
                raise Refused(413, f"body is larger than {self.settings.max_body_bytes} bytes")
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):  # no task, unlike wait_for
                return await read_body(
                    _chunks(receive),
                    headers.get("content-encoding"),
                    self.settings.max_body_bytes,
                    self.settings.max_decompressed_bytes,
                )
        except BodyTooLarge as exc:
            raise Refused(413, str(exc)) from None
        except BadEncoding as exc:
            raise Refused(400, str(exc)) from None
        except TimeoutError:
            raise Refused(408, "the body took too long to arrive") from None
        except ClientGone:
            raise Refused(400, "the client disconnected before the body was whole") from None

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
            # librdkafka fails a record after message.timeout.ms (= ack_timeout_s), and the
            # producer fails one whose report never came soon after: no await here can hang.
            for future in futures:
                await future
        except DeliveryFailed as exc:
            self.metrics.refused.labels("broker").inc()
            log.warning("edge.delivery_failed", error=str(exc))
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

    def _refusal(self, refused: Refused, reason: str | None) -> Answer:
        if reason is not None:
            self.metrics.refused.labels(reason).inc()
            refused.headers.update(self._retry_after())
        return Answer(refused.status, {"detail": refused.detail}, refused.headers)


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as uvicorn hands it over, without Starlette's Request around it."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def _ignore(future: asyncio.Future[None]) -> None:
    """Retrieves the outcome's delivery error so asyncio does not log it as unhandled."""
    if not future.cancelled():
        future.exception()
