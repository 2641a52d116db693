"""The cohort waterfall: summaries of every stage folded into one snapshot of the last hour.

For each cohort and stage: ``in`` (first passes taken), ``out`` by outcome, ``in_flight`` (taken,
not committed), ``pending`` (forwarded by the stage before, not yet taken by this one), latency
percentiles; and the first stage where the cohort is stuck: unfinished there although the cohort
closed more than ``stuck_after_s`` ago.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pipeline.cohorts.counts import COLUMNS, FORWARDED, OUTCOMES, REPLAYED
from pipeline.dev.quantiles import histogram_quantile

PIPELINE_STAGES = ("edge", "normalize", "symbolicate", "store")
"""In flow order; other stages found in the summaries follow, by name."""


@dataclass
class StageCell:
    out: list[int] = field(default_factory=lambda: [0] * COLUMNS)
    in_flight: int = 0
    pending: int = 0
    latency: list[float] | None = None
    bounds: Sequence[float] = ()

    @property
    def taken(self) -> int:
        """First passes this stage took: finished ones and those it holds."""
        return sum(self.out[:REPLAYED]) + self.in_flight

    def quantile(self, q: float) -> float | None:
        if not self.latency:
            return None
        cumulative, running = [], 0.0
        for bound, count in zip((*self.bounds, float("inf")), self.latency, strict=False):
            running += count
            cumulative.append((bound, running))
        seconds = histogram_quantile(q, cumulative)
        return None if seconds is None else round(seconds * 1000, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "in": self.taken,
            "out": dict(zip(OUTCOMES, self.out[:REPLAYED], strict=True)),
            "replayed": self.out[REPLAYED],
            "in_flight": self.in_flight,
            "pending": self.pending,
            "latency_ms": {"p50": self.quantile(0.5), "p99": self.quantile(0.99)},
        }


@dataclass
class Cohort:
    start_ms: int
    stages: dict[str, StageCell]
    stuck_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "label": time.strftime("%H:%M", time.gmtime(self.start_ms / 1000)),
            "stages": {name: cell.to_json() for name, cell in self.stages.items()},
            "stuck_at": self.stuck_at,
        }


@dataclass(frozen=True)
class CohortSnapshot:
    generated_at_ms: int
    width_s: int
    stages: list[str]
    cohorts: list[Cohort]
    """Newest first."""
    oldest_unprocessed_age_s: dict[str, float | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at_ms": self.generated_at_ms,
            "width_s": self.width_s,
            "stages": self.stages,
            "cohorts": [c.to_json() for c in self.cohorts],
            "oldest_unprocessed_age_s": self.oldest_unprocessed_age_s,
        }


def decode_summaries(values: Iterable[bytes]) -> list[dict[str, Any]]:
    """Summaries from raw topic values; undecodable ones are skipped (a summary is advisory,
    never worth a crash)."""
    decoded = []
    for raw in values:
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            decoded.append(value)
    return decoded


def fold_summaries(
    summaries: Iterable[Mapping[str, Any]],
    now_ms: int,
    width_s: int,
    window_s: float = 3600,
    stuck_after_s: float = 60,
    oldest: Mapping[str, float | None] | None = None,
) -> CohortSnapshot:
    """The snapshot of the summaries of one cohort width (others are ignored)."""
    width_ms = width_s * 1000
    since_ms = now_ms - int(window_s * 1000)
    cells: dict[int, dict[str, StageCell]] = {}
    names: set[str] = set()
    for summary in summaries:
        if summary.get("width_ms") != width_ms:
            continue
        stage = str(summary.get("stage"))
        names.add(stage)
        if summary.get("kind") == "latency":
            _add_latency(cells, stage, summary, since_ms)
        elif summary.get("kind") == "partition":
            _add_counts(cells, stage, summary, since_ms)
    stages = [s for s in PIPELINE_STAGES if s in names] + sorted(names - set(PIPELINE_STAGES))
    cohorts = []
    for start in sorted(cells, reverse=True):
        row = {name: cells[start].get(name) or StageCell() for name in stages}
        _fill_pending(row, stages)
        closed_s = (now_ms - start - width_ms) / 1000
        stuck = next((s for s in stages if row[s].in_flight + row[s].pending > 0), None)
        cohorts.append(Cohort(start, row, stuck if closed_s > stuck_after_s else None))
    return CohortSnapshot(
        now_ms, width_s, stages, cohorts, {s: (oldest or {}).get(s) for s in stages}
    )


def _cell(cells: dict[int, dict[str, StageCell]], start: int, stage: str) -> StageCell:
    return cells.setdefault(start, {}).setdefault(stage, StageCell())


def _add_counts(
    cells: dict[int, dict[str, StageCell]], stage: str, summary: Mapping[str, Any], since_ms: int
) -> None:
    for start, row in (summary.get("done") or {}).items():
        if int(start) >= since_ms:
            out = _cell(cells, int(start), stage).out
            for column, count in enumerate(row[:COLUMNS]):
                out[column] += int(count)
    for start, count in (summary.get("in_flight") or {}).items():
        if int(start) >= since_ms:
            _cell(cells, int(start), stage).in_flight += int(count)


def _add_latency(
    cells: dict[int, dict[str, StageCell]], stage: str, summary: Mapping[str, Any], since_ms: int
) -> None:
    bounds = [float(b) for b in summary.get("bounds") or ()]
    for start, counts in (summary.get("cohorts") or {}).items():
        if int(start) < since_ms:
            continue
        cell = _cell(cells, int(start), stage)
        if cell.latency is None or len(cell.latency) != len(counts):
            cell.latency, cell.bounds = [0.0] * len(counts), bounds
        for i, count in enumerate(counts):
            cell.latency[i] += float(count)


def _fill_pending(row: dict[str, StageCell], stages: Sequence[str]) -> None:
    for before, after in pairwise(stages):
        row[after].pending = max(0, row[before].out[FORWARDED] - row[after].taken)
