"""Quotas counted in Redis, shared by every edge replica that points at the same server.

One Lua script checks and charges all counters of an event atomically on the server, so
replicas and concurrent requests never overshoot a limit, and windows expire by Redis's TTL
(no clock of any replica is involved).

When Redis cannot answer in ``redis_timeout_s``, the check is decided by ``on_backend_error``:
``allow`` (the default) fails open, because a quota protects cost while a refused event is lost
for good, and the edge's own backpressure still protects the pipeline; ``refuse`` fails closed.
Either way ``pipeline_edge_quota_backend_failures`` counts it, and for ``redis_retry_s`` after a
failure checks do not wait on Redis again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from pipeline.edge.quota_api import QuotaDecision
from pipeline.edge.quotas.counters import ALLOWED, BACKEND_UNAVAILABLE, QuotaPlan
from pipeline.edge.quotas.metrics import QuotaMetrics
from pipeline.edge.quotas.settings import QuotaSettings

log = structlog.get_logger()

# KEYS: the counters. ARGV: quantity, then each counter's limit, then each window in ms.
# Returns {0, 0} when charged, else {index of the full counter (1-based), its ms left}.
CHECK_AND_CHARGE = """
local quantity = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + quantity > tonumber(ARGV[1 + i]) then
    return {i, redis.call('PTTL', KEYS[i])}
  end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[i], quantity)
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[1 + n + i])
  end
end
return {0, 0}
"""


class RedisQuota:
    def __init__(
        self,
        client: Redis,
        settings: QuotaSettings,
        metrics: QuotaMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._script = client.register_script(CHECK_AND_CHARGE)
        self._settings = settings
        self._plan = QuotaPlan(settings)
        self._metrics = metrics
        self._clock = clock
        self._skip_until = float("-inf")

    @classmethod
    def from_url(cls, url: str, settings: QuotaSettings, metrics: QuotaMetrics) -> RedisQuota:
        """A bounded pool: past ``redis_max_connections`` checks queue for a connection, and one
        that waits past ``redis_timeout_s`` counts as a backend failure (fails open or closed)."""
        timeout = settings.redis_timeout_s
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=settings.redis_max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        return cls(Redis.from_pool(pool), settings, metrics)

    async def check(
        self, project_id: int, public_key: str, category: str, quantity: int
    ) -> QuotaDecision:
        counters = self._plan.counters(project_id, public_key, category, quantity)
        if not counters:
            return ALLOWED
        if self._clock() < self._skip_until:
            return self._unanswered(quantity)
        prefix = self._settings.redis_key_prefix
        args: list[Any] = [quantity]
        args += [c.limit for c in counters]
        args += [max(1, round(c.window_s * 1000)) for c in counters]
        try:
            async with asyncio.timeout(self._settings.redis_timeout_s):
                index, left_ms = await self._script(
                    keys=[prefix + c.name for c in counters], args=args
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._skip_until = self._clock() + self._settings.redis_retry_s
            log.warning(
                "edge.quota_backend_failed",
                error=repr(exc),
                action=self._settings.on_backend_error,
                retry_in_s=self._settings.redis_retry_s,
            )
            return self._unanswered(quantity)
        if index == 0:
            return ALLOWED
        counter = counters[int(index) - 1]
        self._metrics.refused.labels(counter.scope).inc(quantity)
        left_s = left_ms / 1000 if left_ms > 0 else counter.window_s
        return self._plan.refused(counter.scope, counter.reason, left_s)

    async def close(self) -> None:
        await self._client.aclose()

    def _unanswered(self, quantity: int) -> QuotaDecision:
        action = self._settings.on_backend_error
        self._metrics.backend_failures.labels(action).inc()
        if action == "allow":
            return ALLOWED
        self._metrics.refused.labels("backend").inc(quantity)
        return self._plan.refused("project", BACKEND_UNAVAILABLE, self._settings.redis_retry_s)
