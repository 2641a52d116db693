"""Quotas in a real Redis: shared by replicas, atomic under concurrency, windows expire, and a
Redis outage handled as configured (fail open or closed) and counted."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry

from pipeline.edge.quota_api import QuotaDecision
from pipeline.edge.quotas.factory import make_quota
from pipeline.edge.quotas.metrics import QuotaMetrics
from pipeline.edge.quotas.redis_backend import RedisQuota
from pipeline.edge.quotas.settings import QuotaSettings
from tests.support.postgres import free_port
from tests.support.redis import RedisServer

pytestmark = pytest.mark.redis

KEY = "c" * 32


def settings(**fields: object) -> QuotaSettings:
    """A fresh key prefix per test, so tests sharing the session's server never meet."""
    return QuotaSettings.model_validate({"redis_key_prefix": f"test:{uuid.uuid4().hex}:", **fields})


def replica(
    url: str, config: QuotaSettings, registry: CollectorRegistry | None = None
) -> RedisQuota:
    return RedisQuota.from_url(url, config, QuotaMetrics(registry or CollectorRegistry()))


async def allowed(quota: RedisQuota, attempts: int, key: str = KEY) -> int:
    decisions = [await quota.check(1, key, "error", 1) for _ in range(attempts)]
    return sum(d.allowed for d in decisions)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


def test_two_replicas_share_one_limit(redis_url: str) -> None:
    config = settings(projects={1: {"limit": 7, "window_s": 60}})

    async def scenario() -> tuple[int, int, QuotaDecision]:
        a, b = replica(redis_url, config), replica(redis_url, config)
        try:
            first = await allowed(a, 5)
            second = await allowed(b, 5)
            refusal = await a.check(1, KEY, "error", 1)
            return first, second, refusal
        finally:
            await a.close()
            await b.close()

    first, second, refusal = asyncio.run(scenario())
    assert (first, second) == (5, 2)
    assert not refusal.allowed
    assert refusal.reason == "project_quota"
    assert 59 <= refusal.retry_after_s <= 60
    assert refusal.rate_limits_header == (
        f"{refusal.retry_after_s}:error;default;security:project:project_quota"
    )


def test_key_refusal_charges_nothing_to_the_project(redis_url: str) -> None:
    config = settings(projects={1: {"limit": 4, "keys": {KEY: {"limit": 1}}}})

    async def scenario() -> tuple[int, int, str | None]:
        quota = replica(redis_url, config)
        try:
            with_key = await allowed(quota, 5, KEY)
            other = await allowed(quota, 5, "d" * 32)
            last = await quota.check(1, KEY, "error", 1)
            return with_key, other, last.reason
        finally:
            await quota.close()

    assert asyncio.run(scenario()) == (1, 3, "project_quota")


def test_window_expiry_lets_traffic_through_again(redis_url: str) -> None:
    config = settings(projects={1: {"limit": 3, "window_s": 0.5}})

    async def scenario() -> tuple[int, int, int]:
        quota = replica(redis_url, config)
        try:
            before = await allowed(quota, 5)
            refused = await allowed(quota, 1)

            async def let_through() -> bool:
                return (await quota.check(1, KEY, "error", 1)).allowed

            await wait_until(let_through, timeout_s=5)
            after = await allowed(quota, 5)
            return before, refused, after
        finally:
            await quota.close()

    # The first event of the new window got through in wait_until: 2 more fit in it.
    assert asyncio.run(scenario()) == (3, 0, 2)


def test_concurrent_checks_from_two_replicas_do_not_overshoot(redis_url: str) -> None:
    """Generous timeout: this is about atomicity; a slow answer would fail open."""
    config = settings(projects={1: {"limit": 100, "window_s": 60}}, redis_timeout_s=10)

    async def scenario() -> list[QuotaDecision]:
        a, b = replica(redis_url, config), replica(redis_url, config)
        try:
            checks = [q.check(1, KEY, "error", 1) for _ in range(200) for q in (a, b)]
            return await asyncio.gather(*checks)
        finally:
            await a.close()
            await b.close()

    decisions = asyncio.run(scenario())
    assert len(decisions) == 400
    assert sum(d.allowed for d in decisions) == 100


@pytest.mark.parametrize("action", ["allow", "refuse"])
def test_redis_outage_is_decided_by_on_backend_error_and_counted(
    redis_server: RedisServer, action: str
) -> None:
    """A stopped server: checks answer within the timeout, as configured, and recover."""
    down = RedisServer(redis_server.binary, redis_server.root, free_port())
    config = settings(
        projects={1: {"limit": 1}},
        on_backend_error=action,
        redis_timeout_s=0.2,
        redis_retry_s=0.2,
    )
    registry = CollectorRegistry()

    async def scenario() -> tuple[list[QuotaDecision], float]:
        quota = replica(f"redis://127.0.0.1:{down.port}/0", config, registry)
        try:
            started = time.monotonic()
            during = [await quota.check(1, KEY, "error", 1) for _ in range(3)]
            elapsed = time.monotonic() - started
            down.start()
            try:

                async def counted_again() -> bool:
                    # Answered by Redis: one check takes the only slot, the next is refused.
                    return (await quota.check(1, KEY, "error", 1)).reason == "project_quota"

                await wait_until(counted_again, timeout_s=10)
                return during, elapsed
            finally:
                down.stop()
        finally:
            await quota.close()

    during, elapsed = asyncio.run(scenario())
    assert all(d.allowed == (action == "allow") for d in during)
    if action == "refuse":
        assert {d.reason for d in during} == {"quota_unavailable"}
    assert elapsed < 2.0
    failures = registry.get_sample_value(
        "pipeline_edge_quota_backend_failures_total", {"action": action}
    )
    assert failures is not None and failures >= 3


def test_make_quota_picks_redis_when_a_url_is_set(redis_url: str) -> None:
    assert isinstance(make_quota(settings(), redis_url, CollectorRegistry()), RedisQuota)


def test_a_redis_that_never_answers_costs_one_timeout_then_is_skipped() -> None:
    """A listening socket that never replies: the check gives up after redis_timeout_s, and
    checks within redis_retry_s after it do not wait at all."""
    config = settings(projects={1: {"limit": 1}}, redis_timeout_s=0.3, redis_retry_s=30)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]

        async def scenario() -> tuple[float, float, list[QuotaDecision]]:
            quota = replica(f"redis://127.0.0.1:{port}/0", config)
            try:
                started = time.monotonic()
                first = await quota.check(1, KEY, "error", 1)
                first_s = time.monotonic() - started
                rest = [await quota.check(1, KEY, "error", 1) for _ in range(20)]
                return first_s, time.monotonic() - started - first_s, [first, *rest]
            finally:
                await quota.close()

        first_s, rest_s, decisions = asyncio.run(scenario())
    assert 0.25 <= first_s < 2.0
    assert rest_s < 0.1
    assert all(d.allowed for d in decisions)
