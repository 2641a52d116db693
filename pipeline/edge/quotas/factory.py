"""Pick the quota backend from the settings: Redis when ``edge.redis_url`` is set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from pipeline.edge.quotas.memory import InProcessQuota
from pipeline.edge.quotas.metrics import QuotaMetrics
from pipeline.edge.quotas.redis_backend import RedisQuota
from pipeline.edge.quotas.settings import QuotaSettings
from pipeline.errors import ConfigError


def make_quota(
    settings: QuotaSettings, redis_url: str | None, registry: CollectorRegistry
) -> InProcessQuota | RedisQuota:
    """One per edge process; ``await quota.close()`` at exit (Redis connections)."""
    metrics = QuotaMetrics(registry)
    if redis_url:
        try:
            return RedisQuota.from_url(redis_url, settings, metrics)
        except ValueError as exc:
            raise ConfigError(f"edge.redis_url {redis_url!r} is not a Redis URL: {exc}") from None
    return InProcessQuota(settings, metrics)
