"""Which counters an event counts against, and the refusal a full counter gives (pure).

Both backends count the same way: a fixed window per counter that starts with its first event
and lasts ``window_s``; an event is let through only when *every* counter it touches has room,
and then all of them are charged, so a refusal by the key's limit costs the project nothing.
Fixed windows are exact, cost one number per counter, and Redis expires them by itself; the
price is a burst of up to twice the limit across a window boundary, acceptable for quotas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.edge.quota_api import QuotaDecision
from pipeline.edge.quotas.settings import QuotaSettings

ALLOWED = QuotaDecision(allowed=True, retry_after_s=0, rate_limits_header=None, reason=None)
BACKEND_UNAVAILABLE = "quota_unavailable"
"""Outcome reason when Redis cannot answer and quotas fail closed."""


@dataclass(frozen=True)
class Counter:
    scope: str
    """``project`` or ``key``: the scope of X-Sentry-Rate-Limits."""
    name: str
    """Unique per project (and key); the Redis backend prefixes it."""
    limit: int
    window_s: float

    @property
    def reason(self) -> str:
        return f"{self.scope}_quota"


class QuotaPlan:
    """The settings resolved once into the counters of each project and key."""

    def __init__(self, settings: QuotaSettings) -> None:
        self.categories = frozenset(settings.categories)
        self._header_categories = ";".join(settings.categories)
        self._default = settings.default
        self._projects = settings.projects

    def counters(
        self, project_id: int, public_key: str, category: str, quantity: int
    ) -> tuple[Counter, ...]:
        """The counters ``quantity`` items must fit in; none: let them through uncounted."""
        if quantity < 0:
            raise ValueError(f"quantity must be 0 or more, not {quantity}")
        if category not in self.categories or quantity == 0:
            return ()
        project = self._projects.get(project_id)
        # Braces: a Redis Cluster hash tag, so one script touches one slot per project.
        base = f"{{{project_id}}}"
        if project is None:
            if self._default is None:
                return ()
            return (Counter("project", base, self._default.limit, self._default.window_s),)
        found = []
        if project.limit is not None:
            found.append(Counter("project", base, project.limit, project.window_s))
        key = project.keys.get(public_key)
        if key is not None:
            found.append(Counter("key", f"{base}:key:{public_key}", key.limit, key.window_s))
        return tuple(found)

    def refused(self, scope: str, reason: str, retry_after_s: float) -> QuotaDecision:
        """A refusal telling the SDK to wait ``retry_after_s`` (rounded up, at least 1 s)."""
        seconds = max(1, math.ceil(retry_after_s))
        return QuotaDecision(
            allowed=False,
            retry_after_s=seconds,
            rate_limits_header=rate_limits_header(seconds, self._header_categories, scope, reason),
            reason=reason,
        )


def refusal_headers(decision: QuotaDecision) -> dict[str, str]:
    """The 429 response headers of a refused decision (none for an allowed one)."""
    if decision.allowed:
        return {}
    headers = {"Retry-After": str(decision.retry_after_s)}
    if decision.rate_limits_header is not None:
        headers["X-Sentry-Rate-Limits"] = decision.rate_limits_header
    return headers


def rate_limits_header(retry_after_s: int, categories: str, scope: str, reason: str) -> str:
    """One quota limit of X-Sentry-Rate-Limits: ``retry_after:categories:scope:reason_code``
    (categories ``;``-separated, empty for all; scope organization, project or key)."""
    return f"{retry_after_s}:{categories}:{scope}:{reason}"
