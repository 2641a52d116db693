"""Every Prometheus metric a stage exports, defined in one place on a registry passed in.

End-to-end latency is labelled by *cohort*: the minute (UTC, ``YYYY-MM-DDTHH:MMZ``) the edge
received the event, so an operator can watch one cohort move through the stages. Only the
newest cohorts are kept, which bounds the label cardinality.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from pipeline.observability.histogram import Buckets, FastHistogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class StageMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        stage: str,
        cohort_width_s: int = 60,
        cohorts_kept: int = 30,
    ) -> None:
        self.stage = stage
        self.cohort_width_ms = cohort_width_s * 1000
        self.cohorts_kept = cohorts_kept
        self.cohorts: dict[int, Buckets] = {}
        """Receive-time bucket to histogram; replaced, never mutated, so readers need no lock."""
        self._cohort_lock = threading.Lock()
        labels = ["stage"]
        self.consumed = Counter(
            "pipeline_consumed_messages",
            "Messages taken from the input topic.",
            [*labels, "partition"],
            registry=registry,
        )
        self.produced = Counter(
            "pipeline_produced_messages",
            "Records handed to the producer (each acknowledged before the commit covering it).",
            [*labels, "topic"],
            registry=registry,
        )
        self.failed = Counter(
            "pipeline_failed_messages",
            "Messages the process function could not handle.",
            labels,
            registry=registry,
        )
        self.dead_lettered = Counter(
            "pipeline_dlq_messages",
            "Messages sent to the dead-letter topic.",
            labels,
            registry=registry,
        )
        self.transactions_aborted = Counter(
            "pipeline_transactions_aborted",
            "Exactly-once stages: transactions that could not commit, so every partition was "
            "read again from its committed offset.",
            labels,
            registry=registry,
        )
        self.dropped_on_revoke = Counter(
            "pipeline_revoked_unfinished_messages",
            "In-flight messages left for the next owner when a partition was revoked.",
            labels,
            registry=registry,
        )
        self.in_flight = Gauge(
            "pipeline_in_flight_messages",
            "Messages taken and not yet finished.",
            labels,
            registry=registry,
        )
        self.waiting_calls = Gauge(
            "pipeline_waiting_calls",
            "Process calls that are slow: past 5 ms on a worker thread, or suspended on I/O.",
            labels,
            registry=registry,
        )
        self.worker_threads = Gauge(
            "pipeline_worker_threads",
            "Threads the pool has started (threads mode; slow calls each hold one).",
            labels,
            registry=registry,
        )
        self.paused_partitions = Gauge(
            "pipeline_paused_partitions",
            "Assigned partitions currently paused.",
            labels,
            registry=registry,
        )
        self.pauses = Counter(
            "pipeline_pauses",
            "Pause reasons raised, by reason.",
            [*labels, "reason"],
            registry=registry,
        )
        self.lag = Gauge(
            "pipeline_consumer_lag_messages",
            "High-water mark minus position.",
            [*labels, "topic", "partition"],
            registry=registry,
        )
        self.processing_seconds = FastHistogram(
            "pipeline_processing_seconds",
            "Time from taking a message to finishing it.",
            labels,
            LATENCY_BUCKETS,
            registry,
        )
        self.end_to_end_seconds = FastHistogram(
            "pipeline_end_to_end_seconds",
            "Time from the edge receiving an event to this stage finishing it, by receive cohort.",
            [*labels, "cohort"],
            LATENCY_BUCKETS,
            registry,
        )
        self.sink_unavailable = Gauge(
            "pipeline_sink_unavailable", "1 while the sink is failing.", labels, registry=registry
        )
        self.committed_offset = Gauge(
            "pipeline_committed_offset",
            "Last committed offset.",
            [*labels, "topic", "partition"],
            registry=registry,
        )

    def cohort_latency(self, received_at_ms: int) -> Buckets:
        """The end-to-end histogram of the event's receive-time cohort (hot path: cached)."""
        bucket = received_at_ms // self.cohort_width_ms
        child = self.cohorts.get(bucket)
        if child is not None:
            return child
        with self._cohort_lock:
            label = time.strftime(
                "%Y-%m-%dT%H:%MZ", time.gmtime(bucket * self.cohort_width_ms / 1000)
            )
            child = self.end_to_end_seconds.labels(self.stage, label)
            cohorts = dict(self.cohorts)
            cohorts[bucket] = child
            for old in sorted(cohorts)[: max(0, len(cohorts) - self.cohorts_kept)]:
                del cohorts[old]
                self.end_to_end_seconds.remove(
                    self.stage,
                    time.strftime(
                        "%Y-%m-%dT%H:%MZ", time.gmtime(old * self.cohort_width_ms / 1000)
                    ),
                )
            self.cohorts = cohorts
        return child

    def _cohort_label(self, bucket: int) -> str:
        """The bucket's start, with the date: cohorts a day apart must not share a label."""
        return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(bucket * self.cohort_width_ms / 1000))
