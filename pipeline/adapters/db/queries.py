"""Read-side SQL both databases share, and rows to result values.

Queries take the driver's positional placeholder (``?`` for sqlite3, ``%s`` for psycopg).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.adapters.db.base import EventSummary, GroupOrder, GroupSummary, StoredEvent

_SUMMARY_COLUMNS = (
    "project_id, event_id, grouping_hash, timestamp_ms, received_at_ms, stored_at_ms, "
    "level, platform, release, environment, title, culprit"
)
_GROUP_COLUMNS = (
    "project_id, grouping_hash, title, culprit, level, first_seen_ms, last_seen_ms, times_seen"
)
_GROUP_ORDER: dict[GroupOrder, str] = {
    "last_seen": "last_seen_ms DESC",
    "first_seen": "first_seen_ms DESC",
    "times_seen": "times_seen DESC, last_seen_ms DESC",
}


def select_event(p: str) -> str:
    return f"SELECT {_SUMMARY_COLUMNS}, data FROM events WHERE project_id = {p} AND event_id = {p}"


def select_events(
    p: str, project_id: int | None, group: str | None, event_id: str | None, limit: int
) -> tuple[str, list[Any]]:
    _check_limit(limit)
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("project_id", project_id),
        ("grouping_hash", group),
        ("event_id", event_id),
    ):
        if value is not None:
            where.append(f"{column} = {p}")
            params.append(value)
    if event_id is not None and project_id is None:
        # The primary key (project_id, event_id) serves this lookup once projects are known.
        where.append("project_id IN (SELECT DISTINCT project_id FROM groups)")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sql = (
        f"SELECT {_SUMMARY_COLUMNS} FROM events{clause} "
        f"ORDER BY timestamp_ms DESC, project_id, event_id LIMIT {p}"
    )
    return sql, [*params, limit]


def select_groups(
    p: str, project_id: int | None, limit: int, order: GroupOrder
) -> tuple[str, list[Any]]:
    _check_limit(limit)
    clause, params = (
        (f" WHERE project_id = {p}", [project_id]) if project_id is not None else ("", [])
    )
    sql = (
        f"SELECT {_GROUP_COLUMNS} FROM groups{clause} "
        f"ORDER BY {_GROUP_ORDER[order]}, project_id, grouping_hash LIMIT {p}"
    )
    return sql, [*params, limit]


def summary_from_row(row: Sequence[Any]) -> EventSummary:
    return EventSummary(*row[:12])


def stored_from_row(row: Sequence[Any], record: dict[str, Any]) -> StoredEvent:
    return StoredEvent(summary_from_row(row), record)


def group_from_row(row: Sequence[Any]) -> GroupSummary:
    return GroupSummary(*row)


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
