"""Client reports (issue 9, part 6): what an SDK dropped itself, turned into outcome records.

A ``client_report`` envelope item is JSON: ``{"timestamp": ..., "discarded_events": [{"reason",
"category", "quantity"}]}``. Relays acting as clients (and older SDKs) also send
``rate_limited_events``, ``filtered_events`` and ``filtered_sampling_events`` of the same shape.
Each entry with a quantity becomes one outcome record of that quantity and category, so the
outcomes topic counts what clients dropped too. The payload is hostile until validated: size,
nesting, list lengths, strings and numbers are all bounded, and anything else is an
``InvalidClientReport`` the edge answers with 400 (or ignores the item).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from pipeline.edge.quotas.settings import DataCategory
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import OutcomeKind, Outcomes

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ENTRIES = 1000
"""Per list; an SDK sends one entry per (reason, category) pair, a few dozen at most."""
MAX_QUANTITY = 2**32 - 1
"""As Relay: a u32."""
SAMPLING_PREFIX = "sampling:"
"""Reason prefix of ``filtered_sampling_events``, which count as ``filtered``."""

Reason = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class InvalidClientReport(ValueError):
    """The payload is not a client report this edge can count; the message says why."""


class ReportEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    reason: Reason
    category: DataCategory
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY)]


Entries = Annotated[list[ReportEntry], Field(max_length=MAX_ENTRIES)]


class ClientReport(BaseModel):
    """Unknown fields (``timestamp`` among them: the client's clock decides nothing here)
    are ignored, as newer SDKs add some."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    discarded_events: Entries = []
    rate_limited_events: Entries = []
    filtered_events: Entries = []
    filtered_sampling_events: Entries = []


def client_report_outcomes(
    outcomes: Outcomes, payload: bytes, project_id: int, received_at_ms: int, now_ms: int
) -> list[Produce]:
    """The outcome records of one client_report item; raises InvalidClientReport."""
    report = parse_client_report(payload)
    lists: tuple[tuple[OutcomeKind, str, list[ReportEntry]], ...] = (
        ("client_discarded", "", report.discarded_events),
        ("rate_limited", "", report.rate_limited_events),
        ("filtered", "", report.filtered_events),
        ("filtered", SAMPLING_PREFIX, report.filtered_sampling_events),
    )
    return [
        outcomes.produce(
            kind,
            event_id="",
            project_id=project_id,
            received_at_ms=received_at_ms,
            now_ms=now_ms,
            reason=prefix + entry.reason,
            quantity=entry.quantity,
            category=entry.category,
        )
        for kind, prefix, entries in lists
        for entry in entries
        if entry.quantity
    ]


def parse_client_report(payload: bytes) -> ClientReport:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidClientReport(
            f"client report of {len(payload)} bytes is over the limit of {MAX_PAYLOAD_BYTES}"
        )
    try:
        # pydantic's JSON parser bounds nesting depth itself (no RecursionError).
        return ClientReport.model_validate_json(payload)
    except ValidationError as exc:
        raise InvalidClientReport(_describe(exc)) from None


def _describe(exc: ValidationError, shown: int = 3) -> str:
    """The first few problems by field path, without echoing the (hostile) input."""
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or '(payload)'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)[:shown]
    ]
    more = exc.error_count() - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "invalid client report: " + "; ".join(problems) + suffix
