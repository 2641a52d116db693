"""Counting outcome records: quantities summed per project and category, range and project
filters, and `--since` durations."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.cli.outcomes import parse_since
from pipeline.errors import UserError
from pipeline.reporting.tally import OutcomeTally

NOW = 1_765_000_000_000


def record(kind: str, project: int = 1, at: int = NOW - 1, **extra: Any) -> dict[str, Any]:
    return {"outcome": kind, "project_id": project, "timestamp_ms": at, **extra}


def test_quantities_sum_per_project_and_category_and_v1_records_count_one() -> None:
    tally = OutcomeTally(NOW - 1000, NOW)
    for r in [
        record("accepted"),  # as a v1 record decodes: no quantity, no category
        record("accepted", quantity=1, category=None),
        record("client_discarded", quantity=23, category="error"),
        record("client_discarded", quantity=5, category="transaction"),
        record("invalid", project=2, quantity=1, category=None),
    ]:
        tally.add(r)
    assert [
        (r["project_id"], r["category"], r["accepted"], r["client_discarded"], r["total"])
        for r in tally.rows()
    ] == [
        (1, "error", 2, 23, 25),
        (1, "transaction", 0, 5, 5),
        (2, "error", 0, 0, 1),
    ]
    assert tally.records == 5


def test_range_is_half_open_and_project_filter_applies() -> None:
    tally = OutcomeTally(NOW - 1000, NOW, project_id=1)
    for r in [
        record("accepted", at=NOW - 1000),
        record("accepted", at=NOW),
        record("accepted", at=NOW - 1001),
        record("accepted", project=2),
    ]:
        tally.add(r)
    assert [(r["project_id"], r["accepted"]) for r in tally.rows()] == [(1, 1)]
    assert tally.records == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", NOW - 3_600_000),
        ("1h30m", NOW - 5_400_000),
        ("-15m", NOW - 900_000),
        ("now", NOW),
        ("2025-12-06T05:46:40Z", 1_765_000_000_000),
    ],
)
def test_since_accepts_durations_and_every_replay_time(text: str, expected: int) -> None:
    assert parse_since(text, NOW) == expected


def test_since_rejects_nonsense_clearly() -> None:
    with pytest.raises(UserError, match="cannot read the time '1 hour'"):
        parse_since("1 hour", NOW)
