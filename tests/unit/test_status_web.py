"""The status page's HTTP side and its collector, without a broker: sources are plain functions."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from pipeline.backlog.ranges import BacklogRange
from pipeline.backlog.status import RangeStatus
from pipeline.dev.status import StageRow
from pipeline.status_web.app import create_app
from pipeline.status_web.collector import StatusCollector, StatusSources


def ready() -> tuple[bool, str]:
    return True, "sources read"


def test_page_script_and_style_are_served_with_a_strict_policy() -> None:
    client = TestClient(create_app(dict, ready, CollectorRegistry()))
    for path, kind in (("/", "text/html"), ("/status.js", "javascript"), ("/status.css", "css")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"]
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
    page = client.get("/").text
    assert 'src="/status.js"' in page
    assert "http://" not in page and "https://" not in page, "the page loads nothing external"


def test_api_status_is_the_collectors_latest_document() -> None:
    documents = iter([{"n": 1}, {"n": 2}])
    client = TestClient(create_app(lambda: next(documents), ready, CollectorRegistry()))
    assert client.get("/api/status").json() == {"n": 1}
    assert client.get("/api/status").json() == {"n": 2}
    assert client.get("/nothing").status_code == 404
    assert client.post("/api/status").status_code == 405


def test_a_failing_source_is_reported_and_the_others_still_show() -> None:
    def broken_backlog() -> list[RangeStatus]:
        raise ConnectionError("broker unreachable")

    cohorts: dict[str, Any] = {"width_s": 120, "cohorts": []}
    sources = StatusSources(
        stages=lambda: [StageRow("store", "running", True, consumed_per_s=2.5, pauses={"x": 1})],
        backlog=broken_backlog,
        cohorts=lambda: cohorts,
        title="test",
    )
    registry = CollectorRegistry()
    collector = StatusCollector(sources, registry, clock_ms=lambda: 1234)
    assert collector.ready() == (False, "no round read yet")
    document = collector.refresh()
    assert document["generated_at_ms"] == 1234
    assert document["stages"][0]["name"] == "store"
    assert document["stages"][0]["consumed_per_s"] == 2.5
    assert document["stages"][0]["pauses"] == {"x": 1}
    assert document["backlog"] is None
    assert document["errors"] == {"backlog": "ConnectionError: broker unreachable"}
    assert document["cohorts"] is cohorts
    assert collector.ready() == (False, "backlog: ConnectionError: broker unreachable")
    failures = {"source": "backlog"}
    assert registry.get_sample_value("pipeline_status_source_failures_total", failures) == 1


def test_probes_and_metrics_answer_like_a_stage_health_port() -> None:
    registry = CollectorRegistry()
    sources = StatusSources(stages=list, backlog=list)
    collector = StatusCollector(sources, registry)
    client = TestClient(create_app(collector.latest, collector.ready, registry))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    collector.refresh()
    assert client.get("/readyz").text == "ok: sources read\n"
    assert "pipeline_status_source_failures" in client.get("/metrics").text


def test_backlog_ranges_are_listed_with_their_progress() -> None:
    rng = BacklogRange(
        stage="store",
        group="g",
        topic="events.symbolicated",
        partition=1,
        origin_start=100,
        start=150,
        end=200,
        created_at_ms=0,
        updated_at_ms=0,
    )
    sources = StatusSources(stages=list, backlog=lambda: [RangeStatus(rng, None, 60_000)])
    collector = StatusCollector(sources, CollectorRegistry())
    before = collector.latest()
    assert before["stages"] is None and before["backlog"] is None
    (listed,) = collector.refresh()["backlog"]
    assert (listed["stage"], listed["remaining"], listed["age_s"]) == ("store", 50, 60.0)
    assert collector.latest()["backlog"] == [listed]
