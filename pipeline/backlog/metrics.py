"""The backlog's Prometheus metrics, on the stage's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class BacklogMetrics:
    def __init__(self, registry: CollectorRegistry, stage: str) -> None:
        labels = ["stage"]
        self.sliced_ranges = Counter(
            "pipeline_backlog_sliced_ranges",
            "Ranges the live consumer sliced off into the ledger.",
            labels,
            registry=registry,
        ).labels(stage)
        self.sliced_messages = Counter(
            "pipeline_backlog_sliced_messages",
            "Messages in the ranges sliced off (the live consumer skipped them).",
            labels,
            registry=registry,
        ).labels(stage)
        self.ledger_failures = Counter(
            "pipeline_backlog_ledger_write_failures",
            "Ledger writes not acknowledged; a slice is not taken, progress is retried.",
            labels,
            registry=registry,
        ).labels(stage)
        self.drained_ranges = Counter(
            "pipeline_backlog_drained_ranges",
            "Ranges the drain finished and tombstoned.",
            labels,
            registry=registry,
        ).labels(stage)
        self.expired_messages = Counter(
            "pipeline_backlog_expired_messages",
            "Messages of sliced ranges deleted by retention before the drain reached them.",
            labels,
            registry=registry,
        ).labels(stage)
        self.open_ranges = Gauge(
            "pipeline_backlog_open_ranges",
            "Ranges of this stage's live group waiting in the ledger or being drained.",
            labels,
            registry=registry,
        ).labels(stage)
        self.remaining_messages = Gauge(
            "pipeline_backlog_remaining_messages",
            "Messages of the open ranges not yet drained.",
            labels,
            registry=registry,
        ).labels(stage)
