"""In-process quotas: windows, scopes, categories and the X-Sentry-Rate-Limits refusal."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from pipeline.edge.quota_api import QuotaDecision
from pipeline.edge.quotas.counters import ALLOWED, rate_limits_header, refusal_headers
from pipeline.edge.quotas.factory import make_quota
from pipeline.edge.quotas.memory import InProcessQuota
from pipeline.edge.quotas.metrics import QuotaMetrics
from pipeline.edge.quotas.settings import QuotaSettings
from pipeline.errors import ConfigError

KEY = "a" * 32
OTHER_KEY = "b" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**fields: object) -> QuotaSettings:
    return QuotaSettings.model_validate(fields)


def quota(config: QuotaSettings, clock: FakeClock | None = None) -> InProcessQuota:
    return InProcessQuota(config, QuotaMetrics(CollectorRegistry()), clock or FakeClock())


def allowed_count(q: InProcessQuota, attempts: int, key: str = KEY, project: int = 1) -> int:
    return sum(q.check_now(project, key, "error", 1).allowed for _ in range(attempts))


def test_no_quota_configured_allows_everything() -> None:
    q = quota(QuotaSettings())
    assert allowed_count(q, 1000) == 1000


def test_project_limit_refuses_past_the_limit_with_a_sentry_header() -> None:
    clock = FakeClock()
    q = quota(settings(projects={1: {"limit": 3, "window_s": 60}}), clock)
    assert allowed_count(q, 3) == 3
    clock.now += 15.2
    decision = q.check_now(1, KEY, "error", 1)
    assert decision == QuotaDecision(
        allowed=False,
        retry_after_s=45,
        rate_limits_header="45:error;default;security:project:project_quota",
        reason="project_quota",
    )


def test_window_expiry_lets_traffic_through_again() -> None:
    clock = FakeClock()
    q = quota(settings(projects={1: {"limit": 2, "window_s": 10}}), clock)
    assert allowed_count(q, 5) == 2
    clock.now += 9.9
    assert allowed_count(q, 1) == 0
    clock.now += 0.1
    assert allowed_count(q, 5) == 2


def test_key_limit_is_counted_besides_the_project_limit() -> None:
    config = settings(projects={1: {"limit": 5, "keys": {KEY: {"limit": 2, "window_s": 30}}}})
    q = quota(config)
    assert allowed_count(q, 4, KEY) == 2
    refused = q.check_now(1, KEY, "error", 1)
    assert (refused.reason, refused.retry_after_s) == ("key_quota", 30)
    assert refused.rate_limits_header == "30:error;default;security:key:key_quota"
    # The key's refusals did not use up the project: another key gets the remaining 3.
    assert allowed_count(q, 10, OTHER_KEY) == 3
    assert q.check_now(1, OTHER_KEY, "error", 1).reason == "project_quota"


def test_default_applies_to_projects_without_an_entry_each_counted_alone() -> None:
    config = settings(default={"limit": 2}, projects={7: {"keys": {KEY: {"limit": 1}}}})
    q = quota(config)
    assert allowed_count(q, 5, project=1) == 2
    assert allowed_count(q, 5, project=2) == 2
    # Project 7 has its own entry with no project limit: only its key's limit counts.
    assert allowed_count(q, 5, OTHER_KEY, project=7) == 5
    assert allowed_count(q, 5, KEY, project=7) == 1


def test_categories_outside_the_quota_pass_uncounted() -> None:
    q = quota(settings(projects={1: {"limit": 1}}, categories=["error"]))
    assert all(q.check_now(1, KEY, "transaction", 1).allowed for _ in range(10))
    assert allowed_count(q, 3) == 1
    assert q.check_now(1, KEY, "error", 1).rate_limits_header == "60:error:project:project_quota"


def test_quantity_is_all_or_nothing() -> None:
    q = quota(settings(projects={1: {"limit": 5}}))
    assert q.check_now(1, KEY, "error", 4).allowed
    assert not q.check_now(1, KEY, "error", 2).allowed
    assert q.check_now(1, KEY, "error", 1).allowed
    assert q.check_now(1, KEY, "error", 0) is ALLOWED
    with pytest.raises(ValueError, match="quantity"):
        q.check_now(1, KEY, "error", -1)


def test_refused_events_are_counted_by_scope() -> None:
    registry = CollectorRegistry()
    config = settings(projects={1: {"limit": 3, "keys": {KEY: {"limit": 1}}}})
    q = InProcessQuota(config, QuotaMetrics(registry), FakeClock())
    allowed_count(q, 4, KEY)
    allowed_count(q, 4, OTHER_KEY)
    sample = "pipeline_edge_quota_refused_events_total"
    assert registry.get_sample_value(sample, {"scope": "key"}) == 3
    assert registry.get_sample_value(sample, {"scope": "project"}) == 2


def test_concurrent_checks_on_one_loop_do_not_overshoot() -> None:
    q = quota(settings(projects={1: {"limit": 50}}))

    async def flood() -> list[QuotaDecision]:
        return await asyncio.gather(*(q.check(1, KEY, "error", 1) for _ in range(500)))

    decisions = asyncio.run(flood())
    assert sum(d.allowed for d in decisions) == 50


def test_ended_windows_are_forgotten() -> None:
    clock = FakeClock()
    q = quota(settings(default={"limit": 1, "window_s": 1}), clock)
    for project in range(5000):
        q.check_now(project, KEY, "error", 1)
        clock.now += 0.01
    assert q.windows_held < 2500


def test_rate_limits_header_format_and_response_headers() -> None:
    assert rate_limits_header(60, "error;default", "key", "key_quota") == (
        "60:error;default:key:key_quota"
    )
    refused = QuotaDecision(False, 60, "60:error:key:key_quota", "key_quota")
    assert refusal_headers(refused) == {
        "Retry-After": "60",
        "X-Sentry-Rate-Limits": "60:error:key:key_quota",
    }
    assert refusal_headers(ALLOWED) == {}


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="window_s"):
        settings(projects={1: {"limit": 1, "window_s": 0}})
    with pytest.raises(ValueError, match="limit"):
        settings(default={"limit": -1})
    with pytest.raises(ValueError, match="categories"):
        settings(categories=["error;default"])


def test_make_quota_is_in_process_without_a_redis_url_and_rejects_a_bad_one() -> None:
    assert isinstance(make_quota(QuotaSettings(), None, CollectorRegistry()), InProcessQuota)
    with pytest.raises(ConfigError, match="'localhost:6379' is not a Redis URL"):
        make_quota(QuotaSettings(), "localhost:6379", CollectorRegistry())
