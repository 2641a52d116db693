"""`pipeline events list|show` and `pipeline groups list`: read what the store stage wrote."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipeline.adapters.db import EventStore, GroupOrder, StoredEvent, StoreUnavailable, open_store
from pipeline.adapters.db.factory import sqlite_path
from pipeline.cli.common import settings_from
from pipeline.errors import UserError

events_app = typer.Typer(help="Stored events, newest first.", no_args_is_help=True)
groups_app = typer.Typer(help="Groups: events with the same grouping hash.", no_args_is_help=True)


@groups_app.callback()
def groups() -> None:
    """Groups: events with the same grouping hash (a group, even with one command)."""


DsnOption = Annotated[
    str | None,
    typer.Option("--dsn", help="Database to read (default: store.dsn of the settings)."),
]
ProjectOption = Annotated[int | None, typer.Option("--project", "-p", help="Only this project.")]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most N.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

LEVEL_STYLES = {"fatal": "bold red", "error": "red", "warning": "yellow", "info": "blue"}


class StoreNotReadable(UserError):
    """The event database named by the settings or --dsn cannot be read."""


@events_app.command("list")
def list_events(
    ctx: typer.Context,
    project: ProjectOption = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Only this hash.")] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
    dsn: DsnOption = None,
) -> None:
    """List stored events, newest first."""
    with _store(ctx, dsn) as store:
        events = store.list_events(project_id=project, group=group, limit=limit)
    if as_json:
        _print_json([dataclasses.asdict(e) for e in events])
        return
    table = Table("time (UTC)", "project")
    table.add_column("event id", no_wrap=True, min_width=32)
    for header in ("level", "title", "release", "env", "group"):
        table.add_column(header)
    for e in events:
        table.add_row(
            _time(e.timestamp_ms),
            str(e.project_id),
            e.event_id,
            _level(e.level),
            e.title,
            e.release or "",
            e.environment or "",
            e.grouping_hash[:12],
        )
    Console().print(table if events else "no events")


@events_app.command("show")
def show_event(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's 32-hex id.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
    dsn: DsnOption = None,
) -> None:
    """Show one event: title, tags, exceptions with their (symbolicated) frames."""
    with _store(ctx, dsn) as store:
        event = _find(store, event_id, project)
    if event is None:
        where = f" in project {project}" if project is not None else ""
        Console(stderr=True).print(f"event {event_id} not found{where}", highlight=False)
        raise typer.Exit(1)
    if as_json:
        _print_json({**dataclasses.asdict(event.summary), "record": event.record})
        return
    Console().print(_event_view(event))


@groups_app.command("list")
def list_groups(
    ctx: typer.Context,
    project: ProjectOption = None,
    limit: LimitOption = 50,
    order: Annotated[GroupOrder, typer.Option("--sort", help="Highest first.")] = "last_seen",
    as_json: JsonOption = False,
    dsn: DsnOption = None,
) -> None:
    """List groups, most recently seen first (or by --sort)."""
    with _store(ctx, dsn) as store:
        groups = store.list_groups(project_id=project, limit=limit, order=order)
    if as_json:
        _print_json([dataclasses.asdict(g) for g in groups])
        return
    table = Table()
    table.add_column("group", no_wrap=True, min_width=32)
    for header in (
        "project",
        "level",
        "title",
        "times seen",
        "first seen (UTC)",
        "last seen (UTC)",
    ):
        table.add_column(header)
    for g in groups:
        table.add_row(
            g.grouping_hash,
            str(g.project_id),
            _level(g.level),
            g.title,
            str(g.times_seen),
            _time(g.first_seen_ms),
            _time(g.last_seen_ms),
        )
    Console().print(table if groups else "no groups")


@contextmanager
def _store(ctx: typer.Context, dsn: str | None) -> Iterator[EventStore]:
    settings = settings_from(ctx).store
    target = dsn or settings.dsn
    if target.lower().startswith("sqlite:"):
        path = sqlite_path(target)
        if path != ":memory:" and not Path(path).is_file():
            raise StoreNotReadable(f"there is no event database at {path} (nothing stored yet?)")
    try:
        store = open_store(target, timeout_s=settings.timeout_s)
    except StoreUnavailable as exc:
        raise StoreNotReadable(f"cannot open the event database: {_first_line(exc)}") from None
    try:
        yield store
    except StoreUnavailable as exc:
        raise StoreNotReadable(f"cannot read the event database: {_first_line(exc)}") from None
    finally:
        store.close()


def _find(store: EventStore, event_id: str, project: int | None) -> StoredEvent | None:
    if project is not None:
        return store.get_event(project, event_id)
    found = store.list_events(event_id=event_id, limit=2)
    if len(found) > 1:
        raise UserError(f"event {event_id} exists in several projects; pass --project")
    return store.get_event(found[0].project_id, event_id) if found else None


def _event_view(event: StoredEvent) -> RenderableType:
    e, record = event.summary, event.record
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    sdk = " ".join(filter(None, [record.get("sdk_name"), record.get("sdk_version")]))
    release = "+".join(filter(None, [e.release, record.get("dist")]))
    rows: list[tuple[str, str | Text]] = [
        ("event", e.event_id),
        ("project", str(e.project_id)),
        ("group", e.grouping_hash),
        ("level", _level(e.level)),
        ("platform", e.platform),
        ("release", release),
        ("environment", e.environment or ""),
        ("culprit", e.culprit or ""),
        ("sdk", sdk),
        ("time", f"{_time(e.timestamp_ms)} UTC"),
        ("received", f"{_time(e.received_at_ms)} UTC"),
        ("stored", f"{_time(e.stored_at_ms)} UTC"),
    ]
    for name, value in rows:
        if value:
            facts.add_row(name, value)
    parts: list[RenderableType] = [facts]
    message = str(record.get("message") or "")
    if message and message != e.title:
        parts.append(Panel(Text(message), title="message", title_align="left"))
    tags = [t for t in record.get("tags") or [] if isinstance(t, Mapping)]
    if tags:
        tag_table = Table("tag", "value", title="tags", title_justify="left")
        for tag in tags:
            tag_table.add_row(str(tag.get("key")), str(tag.get("value")))
        parts.append(tag_table)
    for exception in reversed(record.get("exceptions") or []):
        parts.append(_exception_view(exception))
    errors = [err for err in record.get("errors") or [] if isinstance(err, Mapping)]
    if errors:
        error_table = Table(
            "stage", "kind", "detail", title="processing errors", title_justify="left"
        )
        for err in errors:
            error_table.add_row(str(err.get("stage")), str(err.get("kind")), str(err.get("detail")))
        parts.append(error_table)
    return Panel(Group(*parts), title=Text(e.title, style="bold"), title_align="left")


def _exception_view(exception: Mapping[str, Any]) -> RenderableType:
    heading = Text(str(exception.get("type") or "Error"), style="bold red")
    if exception.get("value"):
        heading.append(f": {exception['value']}", style="red")
    lines: list[RenderableType] = [heading, Text("most recent call last", style="dim")]
    for frame in exception.get("frames") or []:
        lines.extend(_frame_lines(frame))
    return Group(*lines)


def _frame_lines(frame: Mapping[str, Any]) -> Sequence[RenderableType]:
    where = str(frame.get("filename") or frame.get("abs_path") or frame.get("module") or "?")
    location = ":".join(str(frame[k]) for k in ("lineno", "colno") if frame.get(k) is not None)
    head = Text("  at ")
    head.append(str(frame.get("function") or "?"), style="bold" if frame.get("in_app") else "")
    head.append(f" ({where}{':' + location if location else ''})", style="cyan")
    if frame.get("in_app"):
        head.append("  in app", style="green")
    lines: list[RenderableType] = [head]
    for pre in frame.get("pre_context") or []:
        lines.append(Text(f"        {pre}", style="dim"))
    if frame.get("context_line") is not None:
        lines.append(Text(f"      > {frame['context_line']}", style="bold"))
    for post in frame.get("post_context") or []:
        lines.append(Text(f"        {post}", style="dim"))
    minified = frame.get("minified")
    if isinstance(minified, Mapping):
        place = ":".join(
            str(minified[k]) for k in ("abs_path", "lineno", "colno") if minified.get(k) is not None
        )
        lines.append(Text(f"      minified: {place}", style="dim"))
    status = frame.get("symbolication")
    if status and status != "ok":
        lines.append(Text(f"      not symbolicated: {status}", style="yellow"))
    return lines


def _level(level: str) -> Text:
    return Text(level, style=LEVEL_STYLES.get(level, ""))


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))
