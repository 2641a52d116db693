"""The JSON document behind the status page (`/api/status`), assembled from its sources.

Each source is read on its own: one that fails (the broker unreachable, the ledger unreadable)
leaves its part null with the reason in ``errors``, and the rest of the page still shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, Protocol

from pipeline.backlog.status import RangeStatus
from pipeline.dev.status import StageRow


class CohortProvider(Protocol):
    """The cohort snapshot as ``CohortSnapshot.to_json()`` shapes it; None while there is none."""

    def __call__(self) -> dict[str, Any] | None: ...


def no_cohorts() -> dict[str, Any] | None:
    """For a pipeline without cohort tracking: the page says so instead of drawing a chart."""
    return None


def status_document(
    now_ms: int,
    stages: Sequence[StageRow] | None,
    backlog: Sequence[RangeStatus] | None,
    cohorts: dict[str, Any] | None,
    errors: Mapping[str, str],
    title: str = "pipeline",
) -> dict[str, Any]:
    return {
        "generated_at_ms": now_ms,
        "title": title,
        "stages": None if stages is None else [asdict(row) for row in stages],
        "backlog": None if backlog is None else [status.to_json() for status in backlog],
        "cohorts": cohorts,
        "errors": dict(errors),
    }
