"""From processed_event records to table rows, without I/O: the logic both databases share.

Rows come out sorted by key and group deltas sorted by group, so concurrent writers take row
locks in one global order and cannot deadlock each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from pipeline.adapters.db.base import EventKey, InvalidEvent, WriteResult

MAX_ID_LENGTH = 64
MAX_TITLE_LENGTH = 200
_INT64 = 2**63
_NUL = "\x00"
_REPLACEMENT = "\ufffd"


class EventRow(NamedTuple):
    """One row of the events table, columns in table order."""

    project_id: int
    event_id: str
    grouping_hash: str
    timestamp_ms: int
    received_at_ms: int
    stored_at_ms: int
    level: str
    platform: str
    release: str | None
    environment: str | None
    title: str
    culprit: str | None
    data_json: str
    stored_by: str | None
    """The input message that stored it (``topic/partition/offset``), when known."""

    @property
    def key(self) -> EventKey:
        return EventKey(self.project_id, self.event_id)


class GroupDelta(NamedTuple):
    """What one batch adds to a group, columns in table order; title, culprit and level come
    from its latest event."""

    project_id: int
    grouping_hash: str
    title: str
    culprit: str | None
    level: str
    first_seen_ms: int
    last_seen_ms: int
    times_seen: int


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    keys: tuple[EventKey, ...]
    """Every event's key in batch order, duplicates included."""
    rows: tuple[EventRow, ...]
    """One row per distinct key, sorted by key."""

    def result(
        self, inserted: Iterable[EventKey], rewritten: Iterable[EventKey] = ()
    ) -> WriteResult:
        """Split the batch's keys into newly stored ones, those an earlier attempt of the same
        input message stored, and those stored before by anything else."""
        fresh, again = set(inserted), set(rewritten)
        new: list[EventKey] = []
        redone: list[EventKey] = []
        old: list[EventKey] = []
        for key in self.keys:
            if key in fresh:
                fresh.discard(key)
                new.append(key)
            elif key in again:
                again.discard(key)
                redone.append(key)
            else:
                old.append(key)
        return WriteResult(inserted=tuple(new), already_present=tuple(old), rewritten=tuple(redone))


def prepare_batch(
    events: Sequence[Mapping[str, Any]],
    now_ms: int,
    sources: Sequence[str | None] | None = None,
) -> PreparedBatch:
    """Validate every record and build its row; raises InvalidEvent before anything is written.

    ``sources`` names the input message of each event (see EventRow.stored_by)."""
    keys: list[EventKey] = []
    rows: dict[EventKey, EventRow] = {}
    for index, event in enumerate(events):
        row = event_row(index, event, now_ms, sources[index] if sources else None)
        keys.append(row.key)
        rows.setdefault(row.key, row)
    return PreparedBatch(keys=tuple(keys), rows=tuple(rows[k] for k in sorted(rows)))


def event_row(
    index: int, event: Mapping[str, Any], now_ms: int, stored_by: str | None = None
) -> EventRow:
    if not isinstance(event, Mapping):
        raise InvalidEvent(index, None, f"a record must be a mapping, not {type(event).__name__}")
    event_id = event.get("event_id")
    try:
        data_json = orjson.dumps(event).decode()
    except TypeError as exc:
        raise InvalidEvent(index, event_id, f"not JSON-serializable: {exc}") from None
    if "\\u0000" in data_json:
        # Neither PostgreSQL text nor jsonb can hold NUL characters.
        event = _without_nul(event)
        data_json = orjson.dumps(event).decode()
    field = _FieldReader(index, event)
    return EventRow(
        project_id=field.integer("project_id"),
        event_id=field.identifier("event_id"),
        grouping_hash=field.identifier("grouping_hash"),
        timestamp_ms=field.integer("timestamp_ms"),
        received_at_ms=field.integer("received_at_ms"),
        stored_at_ms=now_ms,
        level=field.text("level"),
        platform=field.text("platform"),
        release=field.optional_text("release"),
        environment=field.optional_text("environment"),
        title=event_title(event),
        culprit=event_culprit(event),
        data_json=data_json,
        stored_by=stored_by,
    )


def aggregate_groups(rows: Iterable[EventRow]) -> list[GroupDelta]:
    """One delta per (project_id, grouping_hash), sorted by that key."""
    deltas: dict[tuple[int, str], GroupDelta] = {}
    for row in rows:
        key = (row.project_id, row.grouping_hash)
        seen = deltas.get(key)
        if seen is None:
            deltas[key] = GroupDelta(
                project_id=row.project_id,
                grouping_hash=row.grouping_hash,
                title=row.title,
                culprit=row.culprit,
                level=row.level,
                first_seen_ms=row.timestamp_ms,
                last_seen_ms=row.timestamp_ms,
                times_seen=1,
            )
            continue
        if row.timestamp_ms >= seen.last_seen_ms:
            seen = seen._replace(title=row.title, culprit=row.culprit, level=row.level)
        deltas[key] = seen._replace(
            first_seen_ms=min(seen.first_seen_ms, row.timestamp_ms),
            last_seen_ms=max(seen.last_seen_ms, row.timestamp_ms),
            times_seen=seen.times_seen + 1,
        )
    return [deltas[k] for k in sorted(deltas)]


def event_title(event: Mapping[str, Any]) -> str:
    """`Type: value` of the main (last) exception, else the message's first line."""
    exception = _main_exception(event)
    if exception is not None:
        kind = str(exception.get("type") or "Error")
        value = str(exception.get("value") or "").strip()
        title = f"{kind}: {value}" if value else kind
    else:
        lines = str(event.get("message") or "").strip().splitlines()
        title = lines[0] if lines else "<unlabeled event>"
    if len(title) > MAX_TITLE_LENGTH:
        title = title[: MAX_TITLE_LENGTH - 1] + "…"
    return title


def event_culprit(event: Mapping[str, Any]) -> str | None:
    """`where in function` of the crashing frame: the last in-app frame, else the last frame."""
    exception = _main_exception(event)
    frames = [f for f in (exception or {}).get("frames") or [] if isinstance(f, Mapping)]
    if not frames:
        return None
    in_app = [f for f in frames if f.get("in_app")]
    frame = (in_app or frames)[-1]
    where = frame.get("module") or frame.get("filename") or frame.get("abs_path")
    function = frame.get("function")
    if where and function:
        return f"{where} in {function}"
    culprit = where or function
    return str(culprit) if culprit else None


def _main_exception(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    exceptions = event.get("exceptions")
    if isinstance(exceptions, list) and exceptions and isinstance(exceptions[-1], Mapping):
        return exceptions[-1]
    return None


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, _REPLACEMENT)
    if isinstance(value, Mapping):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


class _FieldReader:
    """Typed access to a record's fields that reports the first bad one as InvalidEvent."""

    def __init__(self, index: int, event: Mapping[str, Any]) -> None:
        self._index = index
        self._event = event

    def _fail(self, reason: str) -> InvalidEvent:
        return InvalidEvent(self._index, self._event.get("event_id"), reason)

    def integer(self, name: str) -> int:
        value = self._event.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(f"{name} must be an integer, got {value!r}")
        if not -_INT64 <= value < _INT64:
            raise self._fail(f"{name} {value} does not fit 64 bits")
        return value

    def text(self, name: str) -> str:
        value = self._event.get(name)
        if not isinstance(value, str):
            raise self._fail(f"{name} must be a string, got {value!r}")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._event.get(name)
        return None if value is None else self.text(name)

    def identifier(self, name: str) -> str:
        value = self.text(name)
        if not 0 < len(value) <= MAX_ID_LENGTH:
            raise self._fail(f"{name} must have 1 to {MAX_ID_LENGTH} characters, got {value!r}")
        return value
