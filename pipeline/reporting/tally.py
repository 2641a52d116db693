"""Outcome counts per project and data category over a time range (pure, no I/O).

Quantities are summed, so a client report saying 23 events were dropped counts 23. Records
without a category (every stage's own outcomes) are error events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from pipeline.stages.outcomes import OutcomeKind

KINDS: tuple[str, ...] = get_args(OutcomeKind)
DEFAULT_CATEGORY = "error"


@dataclass
class OutcomeTally:
    """Counts of the records decided in [since_ms, until_ms), of one project if given."""

    since_ms: int
    until_ms: int
    project_id: int | None = None
    counts: dict[tuple[int, str], Counter[str]] = field(default_factory=dict)
    records: int = 0
    """Records read, in the range or not."""
    undecodable: int = 0

    def add(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        project_id = int(record["project_id"])
        if self.project_id is not None and project_id != self.project_id:
            return
        if not self.since_ms <= int(record["timestamp_ms"]) < self.until_ms:
            return
        category = record.get("category") or DEFAULT_CATEGORY
        row = self.counts.setdefault((project_id, category), Counter())
        row[str(record["outcome"])] += int(record.get("quantity", 1))

    def rows(self) -> list[dict[str, Any]]:
        """One dict per (project, category), sorted, with every kind and a total."""
        rows = []
        for (project_id, category), counts in sorted(self.counts.items()):
            row: dict[str, Any] = {"project_id": project_id, "category": category}
            row.update({kind: counts[kind] for kind in KINDS})
            row["total"] = sum(counts.values())
            rows.append(row)
        return rows
