"""normalize_event shares no mutable state: threads get the same answers as one thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.stages.normalize import DropRule, NormalizeSettings, Result, normalize_event
from tests.unit.test_normalize_schema import (
    CORPUS,
    NOW_MS,
    javascript_event,
    python_event,
    raw_event,
)


def _records() -> list[dict[str, Any]]:
    payloads = [*CORPUS, python_event(exc_type="KeyError"), javascript_event()] * 20
    return [raw_event(p, event_id=f"{i:032x}") for i, p in enumerate(payloads, start=1)]


def test_threads_agree_with_a_single_thread() -> None:
    settings = NormalizeSettings(drop_rules=(DropRule(name="js", sdk_name="sentry.javascript.*"),))

    def normalize(record: dict[str, Any]) -> Result:
        return normalize_event(record, settings, NOW_MS)

    records = _records()
    expected = [normalize(r) for r in records]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(normalize, records)) == expected
