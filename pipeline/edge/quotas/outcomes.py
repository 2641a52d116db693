"""The ``rate_limited`` outcomes of the events a quota refused, one per dropped event."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.edge.quota_api import QuotaDecision
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import Outcomes

EDGE_STAGE = "edge"


def rate_limited_outcomes(
    outcomes: Outcomes,
    decision: QuotaDecision,
    *,
    event_ids: Iterable[str],
    project_id: int,
    received_at_ms: int,
    now_ms: int,
    category: str | None = None,
) -> list[Produce]:
    """Records for the outcomes topic, each with the decision's reason (project_quota, ...).

    ``outcomes`` is built with stage ``EDGE_STAGE``; ``category`` None means an error event.
    """
    if decision.allowed:
        raise ValueError("an allowed decision drops no events: there is no rate_limited outcome")
    return [
        outcomes.produce(
            "rate_limited",
            event_id=event_id,
            project_id=project_id,
            received_at_ms=received_at_ms,
            now_ms=now_ms,
            reason=decision.reason,
            category=category,
        )
        for event_id in event_ids
    ]
