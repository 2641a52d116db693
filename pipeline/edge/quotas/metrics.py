"""The quota metrics, on the registry the edge passes in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class QuotaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "pipeline_edge_quota_refused_events",
            "Events refused because a quota was used up (by scope: project, key, backend).",
            ["scope"],
            registry=registry,
        )
        self.backend_failures = Counter(
            "pipeline_edge_quota_backend_failures",
            "Quota checks Redis could not answer, by what the edge did instead (allow/refuse).",
            ["action"],
            registry=registry,
        )
