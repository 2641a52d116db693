"""topics.yaml validation: the real file, every kind of problem, and duration parsing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.kafka.topics.durations import format_duration_ms, parse_duration_ms
from pipeline.adapters.kafka.topics.spec import (
    TopicsFileError,
    load_topics,
    parse_topics,
    topic_name_problem,
)
from pipeline.cohorts.settings import CohortSettings
from pipeline.config import PROJECT_ROOT, BacklogSettings
from pipeline.errors import UserError

HOUR_S = 3600.0


def _doc(*topics: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    base = {"partitions": 2, "replication_factor": 1, "retention": "1d"}
    return {"defaults": {**base, **defaults}, "topics": list(topics)}


def _problems(data: object, horizon_s: float = HOUR_S) -> list[str]:
    with pytest.raises(TopicsFileError) as caught:
        parse_topics(data, drain_horizon_s=horizon_s)
    header, *lines = str(caught.value).splitlines()
    assert header == "topics.yaml is invalid:" or not lines
    return [line.strip() for line in lines] or [header]


def test_repository_topics_file_declares_every_topic_of_the_design() -> None:
    horizon_s = BacklogSettings().drain_horizon_s
    specs = {
        s.name: s for s in load_topics(PROJECT_ROOT / "topics.yaml", drain_horizon_s=horizon_s)
    }
    stage_inputs = {"events.raw", "events.normalized", "events.symbolicated"}
    dlqs = {f"{name}.dlq" for name in stage_inputs}
    summaries = CohortSettings().topic
    assert set(specs) == stage_inputs | dlqs | {
        "outcomes",
        BacklogSettings().ledger_topic,
        summaries,
    }
    assert {name for name, s in specs.items() if s.backlog_source} == stage_inputs
    assert specs["pipeline.backlog"].cleanup_policy == "compact"
    assert "compact" in specs[summaries].cleanup_policy
    for spec in specs.values():
        assert spec.replication_factor == 1
        assert spec.partitions >= 1
        assert spec.retention_ms is not None


def test_defaults_apply_and_topic_keys_override_them() -> None:
    specs = parse_topics(
        _doc(
            {"name": "a"},
            {"name": "b", "partitions": 8, "retention": "2d", "config": {"segment.ms": "2h"}},
            config={"segment.ms": "1h", "compression.type": "zstd"},
        ),
        drain_horizon_s=HOUR_S,
    )
    a, b = specs
    assert (a.partitions, a.retention_ms, a.cleanup_policy) == (2, 86_400_000, "delete")
    assert a.config == {"segment.ms": "3600000", "compression.type": "zstd"}
    assert (b.partitions, b.retention_ms) == (8, 172_800_000)
    assert b.config == {"segment.ms": "7200000", "compression.type": "zstd"}
    assert b.broker_configs() == {
        "cleanup.policy": "delete",
        "retention.ms": "172800000",
        "segment.ms": "7200000",
        "compression.type": "zstd",
    }


def test_config_values_become_broker_strings() -> None:
    (spec,) = parse_topics(
        _doc(
            {
                "name": "t",
                "cleanup_policy": "delete, compact",
                "config": {"unclean.leader.election.enable": False, "max.message.bytes": 2048},
            }
        ),
        drain_horizon_s=HOUR_S,
    )
    assert spec.cleanup_policy == "compact,delete"
    assert spec.config == {"unclean.leader.election.enable": "false", "max.message.bytes": "2048"}


def test_unknown_keys_are_named_with_their_topic() -> None:
    problems = _problems(
        {
            "defaults": {"partitions": 1, "replication_factor": 1, "replicas": 3},
            "topics": [{"name": "events.raw", "partition": 4}],
            "extra": True,
        }
    )
    assert sorted(problems) == [
        "(top level): extra: unknown key",
        "defaults: replicas: unknown key",
        "events.raw: partition: unknown key",
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"partitions": 0}, "events.raw: partitions: Input should be greater than or equal to 1"),
        ({"partitions": "4"}, "events.raw: partitions: Input should be a valid integer"),
        ({"replication_factor": 0}, "events.raw: replication_factor: Input should be greater"),
        ({"retention": "7days"}, "events.raw: retention: cannot read duration '7days'"),
        ({"retention": -5}, "events.raw: retention: a duration cannot be negative"),
        ({"cleanup_policy": "truncate"}, "events.raw: cleanup_policy: Input should be 'delete'"),
        ({"config": {"segment.ms": "soon"}}, "events.raw: config: segment.ms: cannot read"),
        ({"backlog_source": "maybe"}, "events.raw: backlog_source: Input should be a valid bool"),
    ],
)
def test_bad_values_name_topic_and_key(entry: dict[str, Any], expected: str) -> None:
    (problem,) = _problems(_doc({"name": "events.raw", **entry}))
    assert problem.startswith(expected), problem


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("events raw", "may only hold ASCII letters"),
        ("événements", "may only hold ASCII letters"),
        ("..", "invalid topic name"),
        ("x" * 250, "250 characters, Kafka allows 249"),
    ],
)
def test_invalid_topic_names_are_rejected(name: str, reason: str) -> None:
    (problem,) = _problems(_doc({"name": name}))
    assert problem.startswith("topics[0]: name: ") or problem.startswith(f"{name}: name: ")
    assert reason in problem


def test_valid_topic_names_pass() -> None:
    assert topic_name_problem("a-b_c.D9") is None
    assert topic_name_problem("x" * 249) is None


def test_duplicate_and_colliding_names() -> None:
    problems = _problems(
        _doc({"name": "events.raw"}, {"name": "events.raw"}, {"name": "events_raw"})
    )
    assert problems == [
        "events.raw: name: declared more than once",
        "events_raw: name: clashes with events.raw ('.' and '_' collide)",
    ]


def test_missing_partitions_without_default() -> None:
    data = {"topics": [{"name": "t", "replication_factor": 1}]}
    assert _problems(data) == ["t: partitions: missing (set it on the topic or in defaults)"]


def test_first_class_configs_cannot_be_repeated_in_config() -> None:
    problems = _problems(_doc({"name": "t", "config": {"retention.ms": 1, "cleanup.policy": "x"}}))
    assert problems == [
        "t: config.retention.ms: declare it as 'retention:' instead",
        "t: config.cleanup.policy: declare it as 'cleanup_policy:' instead",
    ]


def test_min_insync_replicas_above_replication_factor() -> None:
    (problem,) = _problems(_doc({"name": "t", "config": {"min.insync.replicas": 2}}))
    assert problem.startswith("t: config.min.insync.replicas: 2 is above replication_factor 1")


def test_backlog_source_retention_shorter_than_drain_horizon() -> None:
    data = _doc({"name": "events.raw", "backlog_source": True, "retention": "5h"})
    (problem,) = _problems(data, horizon_s=6 * HOUR_S)
    assert problem.startswith(
        "events.raw: retention: 5h is shorter than the backlog drain horizon 6h "
        "(backlog.drain_horizon_s)"
    )


@pytest.mark.parametrize("retention", ["6h", "7d", "forever"])
def test_backlog_source_retention_at_least_the_horizon_passes(retention: str) -> None:
    data = _doc({"name": "events.raw", "backlog_source": True, "retention": retention})
    assert parse_topics(data, drain_horizon_s=6 * HOUR_S)[0].backlog_source


def test_backlog_retention_only_matters_for_topics_marked_as_sources() -> None:
    data = _doc({"name": "events.raw.dlq", "retention": "1h"})
    assert parse_topics(data, drain_horizon_s=6 * HOUR_S)[0].retention_ms == 3_600_000


def test_backlog_source_must_declare_a_retention() -> None:
    data = {
        "topics": [{"name": "e", "partitions": 1, "replication_factor": 1, "backlog_source": True}]
    }
    (problem,) = _problems(data)
    assert problem.startswith("e: retention: missing; a backlog_source topic must declare")


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    problems = _problems(
        _doc({"name": "a", "partitions": 0}, {"name": "b", "retention": "x"}, {"name": "c d"})
    )
    assert [p.split(":")[0] for p in problems] == ["a", "b", "c d"]


def test_document_shape_errors() -> None:
    assert _problems(["not", "a", "mapping"]) == [
        "topics.yaml must hold a mapping with a 'topics:' list"
    ]
    (problem,) = _problems({"topics": []})
    assert problem.startswith("(top level): topics: List should have at least 1 item")


def test_load_topics_reports_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(TopicsFileError, match=r"cannot read topics file .*missing\.yaml"):
        load_topics(tmp_path / "missing.yaml", drain_horizon_s=HOUR_S)
    broken = tmp_path / "broken.yaml"
    broken.write_text("topics: [\n", encoding="utf-8")
    with pytest.raises(TopicsFileError, match="is not valid YAML"):
        load_topics(broken, drain_horizon_s=HOUR_S)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("topics:\n  - name: t\n    partitions: 0\n", encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{invalid} is invalid")):
        load_topics(invalid, drain_horizon_s=HOUR_S)


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("7d", 604_800_000),
        ("12h", 43_200_000),
        ("30m", 1_800_000),
        ("45s", 45_000),
        ("500ms", 500),
        ("1w", 604_800_000),
        ("1h30m", 5_400_000),
        (" 2D ", 172_800_000),
        (86_400_000, 86_400_000),
        ("86400000", 86_400_000),
        (0, 0),
        (-1, -1),
        ("-1", -1),
        ("forever", -1),
    ],
)
def test_parse_duration(value: object, ms: int) -> None:
    assert parse_duration_ms(value) == ms


@pytest.mark.parametrize("value", ["7days", "", "1.5h", "h", "7d-", -2, "-2", True, None, 1.5])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(value)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (604_800_000, "1w"),
        (21_600_000, "6h"),
        (5_400_500, "1h30m500ms"),
        (0, "0ms"),
        (-1, "forever"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration_ms(ms) == text
    assert parse_duration_ms(text) == ms
