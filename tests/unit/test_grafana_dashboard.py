"""deploy/grafana/pipeline.json: it parses, has the panels operators look for, and every query
names only metrics the code really exports (read from a registry the project's metrics fill)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pipeline.backlog.metrics import BacklogMetrics
from pipeline.cohorts.book import CohortBook
from pipeline.cohorts.metrics import CohortCollector
from pipeline.edge.metrics import EdgeMetrics
from pipeline.edge.quotas.metrics import QuotaMetrics
from pipeline.observability.metrics import LATENCY_BUCKETS, StageMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "pipeline.json"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}
PROMQL_WORDS = {
    *("sum", "avg", "max", "min", "count", "topk", "bottomk", "quantile", "stddev"),
    *("rate", "irate", "increase", "delta", "deriv", "histogram_quantile", "label_values"),
    *("clamp_min", "clamp_max", "abs", "time", "vector", "scalar", "absent", "offset"),
    *("by", "without", "on", "ignoring", "group_left", "group_right", "bool"),
    *("and", "or", "unless", "inf", "nan"),
}
EXPECTED_PANELS = {
    "throughput": "pipeline_consumed_messages_total",
    "lag": "pipeline_consumer_lag_messages",
    "pauses by reason": "pipeline_pauses_total",
    "in flight": "pipeline_in_flight_messages",
    "cohort latency heatmap": "pipeline_end_to_end_seconds_bucket",
    "dead letters": "pipeline_dlq_messages_total",
    "outcomes": "pipeline_edge_quota_refused_events_total",
    "outcomes of the newest cohorts": "pipeline_cohort_messages",
    "cohorts in flight": "pipeline_cohort_in_flight_messages",
}


def exported_names() -> set[str]:
    """Every series name the stage, cohort, backlog and edge metrics put on a registry."""
    registry = CollectorRegistry()
    stage = StageMetrics(registry, "normalize")
    BacklogMetrics(registry, "normalize")
    QuotaMetrics(registry)
    EdgeMetrics(registry)
    book = CohortBook(
        stage="normalize",
        group="pipeline-normalize",
        topic="cohorts",
        width_ms=120_000,
        keep=60,
        instance="test",
        latency=lambda: stage.cohorts,
        bounds=LATENCY_BUCKETS,
    )
    registry.register(CohortCollector(book))
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]
    }


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: identifiers left once strings, label matchers,
    grouping clauses, ranges, Grafana variables and PromQL's own words are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)
    expr = re.sub(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)", r"\1", expr)
    identifiers = re.findall(r"(?<![\w.])[A-Za-z_:][\w:]*", expr)
    return {name for name in identifiers if name.lower() not in PROMQL_WORDS}


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expression) for every panel target and every templating query."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"${variable['name']}", query["query"] if isinstance(query, dict) else query


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def test_every_query_names_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    exported = exported_names()
    found = list(queries(dashboard))
    assert found
    for where, expr in found:
        names = metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{where}: {sorted(unknown)} not exported by the code ({expr!r})"


def test_has_the_panels_operators_look_for(dashboard: dict[str, Any]) -> None:
    by_title = {
        panel["title"].lower(): {n for t in panel["targets"] for n in metric_names(t["expr"])}
        for panel in dashboard["panels"]
    }
    for wanted, metric in EXPECTED_PANELS.items():
        matching = [names for title, names in by_title.items() if wanted in title]
        assert matching, f"no panel titled like {wanted!r}"
        assert any(metric in names for names in matching), f"{wanted!r} does not query {metric}"
    heatmaps = [p for p in dashboard["panels"] if p["type"] == "heatmap"]
    assert heatmaps and all(t.get("format") == "heatmap" for p in heatmaps for t in p["targets"])


def test_panels_are_well_formed(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["title"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (stage, le) (rate(a_total{stage=~"$stage"}[$__rate_interval]))', {"a_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(b_bucket[5m])))", {"b_bucket"}),
        ("label_values(c_total, stage)", {"c_total"}),
        ("x / on (stage) y", {"x", "y"}),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
