"""The edge refuses what it cannot take, with Retry-After, and counts it: quotas (the real SDK
backs off), an unreachable broker, and a pipeline too far behind."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sentry_sdk
from prometheus_client import CollectorRegistry

from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import Settings
from pipeline.edge.quotas.settings import ProjectQuota, QuotaSettings
from pipeline.edge.server import EdgeThread
from pipeline.edge.settings import EdgeSettings
from tests.support.pipeline import (
    decode_all,
    new_event_id,
    pipeline_settings,
    read_to_end,
    wait_for,
)

pytestmark = pytest.mark.integration

PROJECT, KEY = 7, "0123456789abcdef0123456789abcdef"
AUTH = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={KEY}"}


@contextmanager
def edge_at(settings: Settings, registry: CollectorRegistry) -> Iterator[str]:
    server = EdgeThread(settings, registry)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def edge_settings(**values: object) -> EdgeSettings:
    return EdgeSettings.model_validate({"port": 0, "projects": {PROJECT: [KEY]}, **values})


def store_body() -> bytes:
    return json.dumps({"event_id": new_event_id(), "message": "m"}).encode()


def requests_seen(registry: CollectorRegistry, status: str) -> float:
    labels = {"endpoint": "envelope", "status": status}
    return registry.get_sample_value("edge_requests_total", labels) or 0.0


def test_the_sdk_gets_429_and_stops_sending_until_retry_after(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    quotas = QuotaSettings(projects={PROJECT: ProjectQuota(limit=1, window_s=600)})
    edge = edge_settings(quotas=quotas)
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path, edge=edge)
    registry = CollectorRegistry()
    with edge_at(settings, registry) as url:
        dsn = f"http://{KEY}@{url.removeprefix('http://')}/{PROJECT}"
        sentry_sdk.init(dsn=dsn, default_integrations=False, auto_enabling_integrations=False)
        try:
            for n in range(5):
                sentry_sdk.capture_message(f"message {n}")
                sentry_sdk.flush(timeout=10)
        finally:
            sentry_sdk.get_client().close()
            sentry_sdk.init()
        with httpx.Client(base_url=url) as client:
            refused = client.post(f"/api/{PROJECT}/store/", content=store_body(), headers=AUTH)
    # The SDK honoured Retry-After: after the first 429 it sent no event (only client reports,
    # which the edge answers 200).
    assert requests_seen(registry, "429") == 1
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert refused.headers["X-Sentry-Rate-Limits"].endswith(":project:project_quota")
    raw = read_to_end(kafka_bootstrap, settings.kafka.topic("events.raw"), timeout_s=5)
    assert len(raw) == 1
    codec = make_codec(settings.kafka)
    outcomes = decode_all(
        codec,
        "outcome",
        read_to_end(kafka_bootstrap, settings.kafka.topic("outcomes"), timeout_s=5),
    )
    kinds = Counter(o["outcome"] for o in outcomes for _ in range(o["quantity"]))
    assert kinds["rate_limited"] == 2  # the SDK's second event, and the request above
    # The three events the SDK dropped itself while backing off, reported in client reports.
    assert kinds["client_discarded"] == 3
    discarded = {o["reason"] for o in outcomes if o["outcome"] == "client_discarded"}
    assert discarded == {"ratelimit_backoff"}


def test_an_unreachable_broker_is_503_with_retry_after(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    edge = edge_settings(ack_timeout_s=1.0, retry_after_s=7)
    settings = pipeline_settings("127.0.0.1:1", prefix, tmp_path, edge=edge)
    registry = CollectorRegistry()
    with edge_at(settings, registry) as url, httpx.Client(base_url=url, timeout=10) as client:
        started = time.monotonic()
        answer = client.post(f"/api/{PROJECT}/store/", content=store_body(), headers=AUTH)
        assert time.monotonic() - started < 5
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "7"
    assert registry.get_sample_value("edge_refused_total", {"reason": "broker"}) == 1


def test_a_pipeline_behind_its_lag_limit_is_503_until_it_catches_up(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    edge = edge_settings(max_lag=2, lag_interval_s=0.2)
    settings = pipeline_settings(kafka_bootstrap, prefix, tmp_path, edge=edge)
    registry = CollectorRegistry()
    with edge_at(settings, registry) as url, httpx.Client(base_url=url) as client:
        for _ in range(3):  # no normalize runs: every accepted event adds to its lag
            post = client.post(f"/api/{PROJECT}/store/", content=store_body(), headers=AUTH)
            assert post.status_code == 200
        wait_for(lambda: client.get("/health/ready").json()["behind"], "the edge to see lag")
        behind = client.post(f"/api/{PROJECT}/store/", content=store_body(), headers=AUTH)
    assert behind.status_code == 503
    assert "Retry-After" in behind.headers
    assert registry.get_sample_value("edge_refused_total", {"reason": "lag"}) == 1
    assert len(read_to_end(kafka_bootstrap, settings.kafka.topic("events.raw"), timeout_s=5)) == 3
