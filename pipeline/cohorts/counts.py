"""What a stage counts per cohort, and how those counts travel in a compact form.

A cohort is the ``width_ms`` bucket of an event's receive time; it is named by its index
(``received_at_ms // width_ms``) on the hot path and by its start in milliseconds everywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

OUTCOMES = ("forwarded", "stored", "filtered", "invalid", "dead_lettered")
"""How a first pass through a stage ends (the ``out`` of a cohort cell)."""
FORWARDED, STORED, FILTERED, INVALID, DEAD_LETTERED = range(len(OUTCOMES))
REPLAYED = len(OUTCOMES)
"""Messages brought back by `pipeline replay`: counted apart, so a replay never inflates a
cohort's first-pass counts."""
COLUMNS = len(OUTCOMES) + 1

OUTCOME_HEADER = "outcome"
"""Set on outcome records (``accepted``, ``filtered``, ``invalid``...) so the runtime can tell what
a message came to from the records it emitted, without decoding them."""
REPLAYED_HEADER = "replayed"
"""Set by `pipeline replay` on every record it writes, and carried forward by the stages."""

_BY_KIND = {"accepted": STORED, "filtered": FILTERED, "invalid": INVALID, "rate_limited": FILTERED}


def outcome_of_kind(kind: bytes) -> int:
    """The cohort column of an outcome record's kind (unknown kinds count as filtered)."""
    return _BY_KIND.get(kind.decode("ascii", "replace"), FILTERED)


Done = dict[int, list[int]]
"""Cohort index to counts per column (OUTCOMES, then REPLAYED)."""


def add_done(into: Done, other: Mapping[int, Iterable[int]]) -> None:
    for cohort, counts in other.items():
        row = into.setdefault(cohort, [0] * COLUMNS)
        for column, count in enumerate(counts):
            if column < COLUMNS:
                row[column] += count


def encode_done(done: Done, width_ms: int, keep: int, limit_bytes: int) -> str:
    """The newest ``keep`` cohorts as compact JSON of at most ``limit_bytes`` (oldest dropped
    first): it rides in the Kafka commit metadata, which brokers cap (4096 bytes by default)."""
    newest = sorted(done, reverse=True)[:keep]
    while True:
        text = json.dumps(
            {"w": width_ms, "c": {str(c): done[c] for c in sorted(newest)}}, separators=(",", ":")
        )
        if len(text) <= limit_bytes or not newest:
            return text
        newest.pop()


def decode_done(text: str | None, width_ms: int) -> Done:
    """Counts from commit metadata; anything else (another width, another writer) is ignored."""
    if not text:
        return {}
    try:
        data = json.loads(text)
        if data.get("w") != width_ms:
            return {}
        return {
            int(c): [int(n) for n in counts][:COLUMNS] + [0] * (COLUMNS - len(counts))
            for c, counts in data["c"].items()
        }
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}
