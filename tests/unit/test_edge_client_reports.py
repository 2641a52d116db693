"""Client reports into outcome records: every list counted, hostile payloads refused clearly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.adapters.kafka.codec import SingleObjectCodec, load_catalog
from pipeline.config import KafkaSettings
from pipeline.edge.client_reports import (
    MAX_PAYLOAD_BYTES,
    InvalidClientReport,
    client_report_outcomes,
)
from pipeline.edge.quota_api import QuotaDecision
from pipeline.edge.quotas.outcomes import EDGE_STAGE, rate_limited_outcomes
from pipeline.stages.outcomes import Outcomes

TOPIC = "t.outcomes"
RECEIVED, NOW = 1_760_000_000_000, 1_760_000_000_007


@pytest.fixture(scope="module")
def outcomes() -> Outcomes:
    codec = SingleObjectCodec(load_catalog(KafkaSettings().schemas_dir))
    return Outcomes(codec, TOPIC, EDGE_STAGE)


def records(outcomes: Outcomes, payload: Any) -> list[dict[str, Any]]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    produced = client_report_outcomes(outcomes, data, 42, RECEIVED, NOW)
    assert {(p.topic, p.key) for p in produced} <= {(TOPIC, b"42")}
    return [outcomes.codec.decode("outcome", p.value or b"", TOPIC) for p in produced]


def entry(reason: str, category: str, quantity: Any) -> dict[str, Any]:
    return {"reason": reason, "category": category, "quantity": quantity}


def test_every_list_becomes_outcomes_with_quantity_and_category(outcomes: Outcomes) -> None:
    report = {
        "timestamp": "2026-12-06T04:00:00Z",
        "discarded_events": [
            entry("queue_overflow", "error", 23),
            entry("sample_rate", "transaction", 1321),
            entry("before_send", "error", 0),
        ],
        "rate_limited_events": [entry("key_quota", "error", 2)],
        "filtered_events": [entry("browser-extensions", "error", 4)],
        "filtered_sampling_events": [entry("Sampled:0", "transaction", 5)],
        "future_field": {"ignored": True},
    }
    got = records(outcomes, report)
    assert [(r["outcome"], r["reason"], r["category"], r["quantity"]) for r in got] == [
        ("client_discarded", "queue_overflow", "error", 23),
        ("client_discarded", "sample_rate", "transaction", 1321),
        ("rate_limited", "key_quota", "error", 2),
        ("filtered", "browser-extensions", "error", 4),
        ("filtered", "sampling:Sampled:0", "transaction", 5),
    ]
    assert {
        (r["event_id"], r["project_id"], r["stage"], r["received_at_ms"], r["timestamp_ms"])
        for r in got
    } == {("", 42, "edge", RECEIVED, NOW)}


def test_a_numeric_timestamp_and_an_empty_report_are_fine(outcomes: Outcomes) -> None:
    assert records(outcomes, {"timestamp": 1765000000.5}) == []
    assert records(outcomes, {}) == []


BAD_PAYLOADS: dict[str, tuple[bytes, str]] = {
    "not-json": (b"\xff\xfe{", "Invalid JSON"),
    "not-an-object": (b"[1, 2]", "Input should be an object"),
    "deeply-nested": (
        b'{"discarded_events": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        "recursion limit",
    ),
    "list-not-a-list": (b'{"discarded_events": {"a": 1}}', "discarded_events: Input should be"),
    "negative-quantity": (
        json.dumps({"discarded_events": [entry("x", "error", -1)]}).encode(),
        "discarded_events.0.quantity",
    ),
    "quantity-as-string": (
        json.dumps({"discarded_events": [entry("x", "error", "5")]}).encode(),
        "discarded_events.0.quantity",
    ),
    "quantity-as-bool": (
        json.dumps({"filtered_events": [entry("x", "error", True)]}).encode(),
        "filtered_events.0.quantity",
    ),
    "huge-quantity": (
        json.dumps({"discarded_events": [entry("x", "error", 2**40)]}).encode(),
        "less than or equal",
    ),
    "reason-with-markup": (
        json.dumps({"discarded_events": [entry("[red]boom\n", "error", 1)]}).encode(),
        "discarded_events.0.reason",
    ),
    "missing-category": (
        b'{"discarded_events": [{"reason": "x", "quantity": 1}]}',
        "discarded_events.0.category: Field required",
    ),
    "too-many-entries": (
        json.dumps({"discarded_events": [entry("x", "error", 1)] * 1001}).encode(),
        "at most 1000 items",
    ),
    "too-large": (b" " * (MAX_PAYLOAD_BYTES + 1), "over the limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_hostile_payloads_raise_a_clear_error(outcomes: Outcomes, case: str) -> None:
    payload, message = BAD_PAYLOADS[case]
    with pytest.raises(InvalidClientReport, match=message) as caught:
        client_report_outcomes(outcomes, payload, 42, RECEIVED, NOW)
    assert len(str(caught.value)) < 600


def test_rate_limited_outcomes_one_per_dropped_event(outcomes: Outcomes) -> None:
    refused = QuotaDecision(False, 30, "30:error:key:key_quota", "key_quota")
    produced = rate_limited_outcomes(
        outcomes,
        refused,
        event_ids=["a" * 32, "b" * 32],
        project_id=7,
        received_at_ms=RECEIVED,
        now_ms=NOW,
    )
    got = [outcomes.codec.decode("outcome", p.value or b"", TOPIC) for p in produced]
    assert [(r["outcome"], r["event_id"], r["reason"], r["quantity"]) for r in got] == [
        ("rate_limited", "a" * 32, "key_quota", 1),
        ("rate_limited", "b" * 32, "key_quota", 1),
    ]
    assert {p.key for p in produced} == {b"7"}
    with pytest.raises(ValueError, match="allowed"):
        rate_limited_outcomes(
            outcomes,
            QuotaDecision(True, 0, None, None),
            event_ids=["c" * 32],
            project_id=7,
            received_at_ms=RECEIVED,
            now_ms=NOW,
        )
