"""The event id: 32 lowercase hex chars, the edge's if valid, else the SDK's, else a new one.

A malformed id is not a reason to lose the event: it is replaced and the error recorded.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from pipeline.stages.normalize.results import ErrorLog

_HEX32 = re.compile(r"[0-9a-f]{32}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NIL = "0" * 32


def parse_event_id(value: Any) -> str | None:
    """``value`` as 32 lowercase hex chars, or None if it is not an id (the nil UUID is not)."""
    if not isinstance(value, str) or len(value) not in (32, 36):
        return None
    value = value.lower()
    if _HEX32.fullmatch(value) is None:
        if _UUID.fullmatch(value) is None:
            return None
        value = value.replace("-", "")
    return None if value == _NIL else value


def choose_event_id(edge_id: Any, payload_id: Any, errors: ErrorLog) -> str:
    """The edge's id wins over the payload's; a missing or empty one is generated."""
    chosen: str | None = None
    for source, value in (("edge", edge_id), ("payload", payload_id)):
        if value is None or value == "":
            continue
        parsed = parse_event_id(value)
        if parsed is None:
            errors.add("invalid_event_id", f"{source}: {str(value)[:64]!r}")
        elif chosen is None:
            chosen = parsed
    return chosen if chosen is not None else uuid.uuid4().hex
