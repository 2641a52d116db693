"""`pipeline outcomes` against a real broker: known outcomes in (stage outcomes, rate_limited
from a quota, client reports), exactly those counts out, summed by quantity."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from pipeline.adapters.kafka.codec import make_codec
from pipeline.cli.outcomes import outcomes as outcomes_command
from pipeline.config import KafkaSettings, Settings
from pipeline.edge.client_reports import client_report_outcomes
from pipeline.edge.quota_api import QuotaDecision
from pipeline.edge.quotas.outcomes import EDGE_STAGE, rate_limited_outcomes
from pipeline.errors import UserError
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import OUTCOMES_TOPIC, Outcomes
from tests.support.pipeline import TIMEOUT_S, new_event_id, produce

pytestmark = pytest.mark.integration

REFUSED = QuotaDecision(False, 60, "60:error:project:project_quota", "project_quota")


@pytest.fixture
def settings(admin: AdminClient, kafka_bootstrap: str) -> Iterator[Settings]:
    """Settings whose outcomes topic is a fresh three-partition topic."""
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"it-{uuid.uuid4().hex}-")
    topic = kafka.topic(OUTCOMES_TOPIC)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(
        TIMEOUT_S
    )
    yield Settings(kafka=kafka)
    admin.delete_topics([topic], operation_timeout=TIMEOUT_S)[topic].result(TIMEOUT_S)


def cli(settings: Settings, *args: str) -> tuple[int, str]:
    app = typer.Typer()
    app.command("outcomes")(outcomes_command)
    app.callback()(lambda: None)
    result = CliRunner().invoke(app, ["outcomes", *args], obj=settings, env={"COLUMNS": "200"})
    if isinstance(result.exception, UserError):
        return result.exception.exit_code, str(result.exception)  # as main() prints it
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def known_outcomes(settings: Settings, now_ms: int) -> list[Produce]:
    codec = make_codec(settings.kafka)
    topic = settings.kafka.topic(OUTCOMES_TOPIC)
    normalize, store = Outcomes(codec, topic, "normalize"), Outcomes(codec, topic, "store")
    edge = Outcomes(codec, topic, EDGE_STAGE)
    received = now_ms - 500

    def each(builder: Outcomes, kind: Any, project: int, n: int, **extra: Any) -> list[Produce]:
        at = extra.pop("at", now_ms)
        return [
            builder.produce(
                kind,
                event_id=new_event_id(),
                project_id=project,
                received_at_ms=received,
                now_ms=at,
                **extra,
            )
            for _ in range(n)
        ]

    report_1 = {
        "timestamp": now_ms / 1000,
        "discarded_events": [
            {"reason": "queue_overflow", "category": "error", "quantity": 23},
            {"reason": "sample_rate", "category": "transaction", "quantity": 5},
        ],
        "filtered_events": [{"reason": "release-version", "category": "error", "quantity": 4}],
    }
    report_2 = {
        "discarded_events": [{"reason": "network_error", "category": "error", "quantity": 7}]
    }
    ids = [new_event_id() for _ in range(2)]
    return [
        *each(store, "accepted", 1, 3),
        *each(store, "accepted", 2, 2),
        *each(normalize, "filtered", 1, 2, reason="sdk_version"),
        *each(normalize, "invalid", 2, 1, reason="bad_json"),
        *rate_limited_outcomes(
            edge, REFUSED, event_ids=ids, project_id=1, received_at_ms=received, now_ms=now_ms
        ),
        *client_report_outcomes(edge, json.dumps(report_1).encode(), 1, received, now_ms),
        *client_report_outcomes(edge, json.dumps(report_2).encode(), 2, received, now_ms),
        # Decided two hours ago (written late): outside --since 10m, so not counted.
        *each(store, "accepted", 1, 5, at=now_ms - 2 * 3600_000),
        Produce(topic, b"not an outcome", key=b"1"),
    ]


def parsed(output: str) -> Any:
    """The JSON document; unconfigured structlog (no root callback here) logs to stdout too."""
    return json.loads(output[output.index("{\n") :])


def row(project: int, category: str, **counts: int) -> dict[str, Any]:
    kinds = ("accepted", "filtered", "rate_limited", "invalid", "client_discarded")
    full = {kind: counts.get(kind, 0) for kind in kinds}
    return {"project_id": project, "category": category, **full, "total": sum(full.values())}


def test_counts_per_project_and_category_summing_quantities(
    settings: Settings, kafka_bootstrap: str
) -> None:
    now_ms = time.time_ns() // 1_000_000
    sent = produce(kafka_bootstrap, known_outcomes(settings, now_ms))

    code, output = cli(settings, "--since", "10m", "--json")
    assert code == 0, output
    summary = parsed(output)
    assert summary["records_read"] == sent - 1
    assert summary["undecodable"] == 1
    assert summary["projects"] == [
        row(1, "error", accepted=3, filtered=2 + 4, rate_limited=2, client_discarded=23),
        row(1, "transaction", client_discarded=5),
        row(2, "error", accepted=2, invalid=1, client_discarded=7),
    ]

    code, output = cli(settings, "--since", "10m", "--project", "2", "--json")
    assert code == 0, output
    assert parsed(output)["projects"] == [
        row(2, "error", accepted=2, invalid=1, client_discarded=7)
    ]

    code, output = cli(settings, "--since", "3h", "--until", "1h", "--json")
    assert code == 0, output
    assert parsed(output)["projects"] == []

    code, output = cli(settings, "--since", "10m")
    assert code == 0, output
    assert "client discarded" in output and "transaction" in output


def test_clear_errors_for_a_bad_range_a_missing_topic_and_no_broker(
    settings: Settings, kafka_bootstrap: str
) -> None:
    code, output = cli(settings, "--since", "1h", "--until", "2h")
    assert code == 2 and "must be after --since" in output
    code, output = cli(settings, "--since", "yesterday")
    assert code == 2 and "cannot read the time 'yesterday'" in output
    missing = Settings(kafka=settings.kafka.model_copy(update={"topic_prefix": "nope-"}))
    code, output = cli(missing, "--timeout", "5")
    assert code == 2 and "topic nope-outcomes does not exist" in output
    unreachable = Settings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    started = time.monotonic()
    code, output = cli(unreachable, "--timeout", "1")
    assert code == 2 and "Kafka at 127.0.0.1:1 could not" in output
    assert time.monotonic() - started < 15
