"""The edge's Prometheus metrics, on the registry the server passes in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class EdgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "edge_requests", "HTTP requests answered", ["endpoint", "status"], registry=registry
        )
        self.events = Counter(
            "edge_events", "Events by what the edge did with them", ["outcome"], registry=registry
        )
        self.refused = Counter(
            "edge_refused", "Requests refused for backpressure", ["reason"], registry=registry
        )
        self.in_flight = Gauge("edge_in_flight", "Requests being handled", registry=registry)
        # The children counted on every request, looked up once: ``labels()`` takes a lock
        # and builds a key each call.
        self.accepted = self.events.labels("accepted")
        self._answered: dict[tuple[str, int], Counter] = {}

    def answered(self, endpoint: str, status: int) -> None:
        child = self._answered.get((endpoint, status))
        if child is None:
            child = self._answered[endpoint, status] = self.requests.labels(endpoint, str(status))
        child.inc()
