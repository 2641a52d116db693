"""The event store on SQLite: the contract every backend must keep, plus SQLite's own cases, the
pure record logic and the read-side CLI.

``StoreContract`` is reused by tests/integration/test_store_postgres.py, which provides
``store_dsn`` for PostgreSQL: one set of test bodies, two databases.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.adapters.db import (
    EventKey,
    EventStore,
    InvalidEvent,
    StoreUnavailable,
    WriteResult,
    open_store,
)
from pipeline.adapters.db.factory import sqlite_path
from pipeline.adapters.db.records import event_culprit, event_title
from pipeline.cli.browse import StoreNotReadable, events_app, groups_app
from pipeline.errors import ConfigError
from pipeline.observability.logs import configure_logging

NOW_MS = 1_700_000_100_000
T0 = 1_700_000_000_000
HASH_A = "a" * 32
HASH_B = "b" * 32

OpenStore = Callable[[], EventStore]


def make_event(
    project_id: int = 1,
    grouping_hash: str = HASH_A,
    timestamp_ms: int = T0,
    **fields: Any,
) -> dict[str, Any]:
    """A valid processed_event record (schemas/processed_event/v1.avsc)."""
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "project_id": project_id,
        "received_at_ms": timestamp_ms + 5,
        "timestamp_ms": timestamp_ms,
        "stage_times_ms": {"normalize": timestamp_ms + 10},
        "platform": "javascript",
        "level": "error",
        "event_type": "error",
        "release": "web@1.2.3",
        "dist": None,
        "environment": "production",
        "sdk_name": "sentry.javascript.browser",
        "sdk_version": "8.0.0",
        "message": "",
        "tags": [{"key": "browser", "value": "Firefox 120"}],
        "fingerprint": ["{{ default }}"],
        "grouping_hash": grouping_hash,
        "exceptions": [
            {
                "type": "TypeError",
                "value": "x is undefined",
                "module": None,
                "frames": [
                    {
                        "filename": "src/app.ts",
                        "abs_path": "https://example.com/src/app.ts",
                        "function": "handleClick",
                        "module": None,
                        "lineno": 42,
                        "colno": 7,
                        "in_app": True,
                        "context_line": "  const y = x.value;",
                        "pre_context": ["function handleClick(x) {"],
                        "post_context": ["  return y;"],
                        "minified": {
                            "abs_path": "https://example.com/app.min.js",
                            "function": "a",
                            "lineno": 1,
                            "colno": 2345,
                        },
                        "symbolication": "ok",
                    }
                ],
            }
        ],
        "debug_images": [],
        "errors": [],
        "extra_json": "{}",
    }
    event.update(fields)
    return event


def write_until_stored(store: EventStore, batch: list[dict[str, Any]]) -> WriteResult:
    """Retry a batch like the stage runtime does while the database is briefly unavailable."""
    for _ in range(20):
        try:
            return store.write_batch(batch, NOW_MS)
        except StoreUnavailable:
            continue
    raise AssertionError("the store stayed unavailable")


class StoreContract:
    """What every EventStore guarantees. Subclasses provide a ``store_dsn`` fixture naming an
    empty database."""

    @pytest.fixture
    def open_test_store(self, store_dsn: str) -> Iterator[OpenStore]:
        opened: list[EventStore] = []

        def open_one() -> EventStore:
            opened.append(open_store(store_dsn, timeout_s=5.0))
            return opened[-1]

        yield open_one
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, open_test_store: OpenStore) -> EventStore:
        return open_test_store()

    def test_a_batch_written_twice_is_stored_and_counted_once(self, store: EventStore) -> None:
        batch = [make_event(timestamp_ms=T0 + i) for i in range(3)]
        keys = tuple(EventKey(1, e["event_id"]) for e in batch)

        first = store.write_batch(batch, NOW_MS)
        again = store.write_batch(batch, NOW_MS + 1)

        assert first == WriteResult(inserted=keys, already_present=())
        assert again == WriteResult(inserted=(), already_present=keys)
        assert len(store.list_events(limit=100)) == 3
        [group] = store.list_groups()
        assert group.times_seen == 3

    def test_a_retry_of_the_same_messages_is_told_from_a_duplicate(self, store: EventStore) -> None:
        batch = [make_event(timestamp_ms=T0 + i) for i in range(3)]
        keys = tuple(EventKey(1, e["event_id"]) for e in batch)
        sources = [f"t/0/{n}" for n in range(3)]

        store.write_batch(batch, NOW_MS, sources)
        retried = store.write_batch(batch, NOW_MS + 1, sources)
        duplicated = store.write_batch(batch, NOW_MS + 2, [f"t/1/{n}" for n in range(3)])

        assert retried == WriteResult(inserted=(), already_present=(), rewritten=keys)
        assert duplicated == WriteResult(inserted=(), already_present=keys)
        [group] = store.list_groups()
        assert group.times_seen == 3

    def test_a_large_batch_mixing_new_retried_and_duplicate_events(self, store: EventStore) -> None:
        """Hundreds of events over many groups, some new, some a retry of their own message,
        some stored before by another: each is told apart on its own."""
        earlier = [make_event(grouping_hash=f"{i % 7:032x}") for i in range(150)]
        store.write_batch(earlier, NOW_MS, [f"t/0/{n}" for n in range(150)])
        fresh = [make_event(grouping_hash=f"{i % 90:032x}") for i in range(200)]
        # Evens of `earlier` come again from their own messages (a retry), odds from others.
        batch = [*fresh[:100], *earlier, *fresh[100:]]
        sources = [
            *(f"t/1/{n}" for n in range(100)),
            *(f"t/0/{n}" if n % 2 == 0 else f"t/2/{n}" for n in range(150)),
            *(f"t/1/{n}" for n in range(100, 200)),
        ]

        result = store.write_batch(batch, NOW_MS + 1, sources)

        def keys(events: list[dict[str, Any]]) -> set[EventKey]:
            return {EventKey(1, e["event_id"]) for e in events}

        assert set(result.inserted) == keys(fresh) and len(result.inserted) == 200
        assert set(result.rewritten) == keys(earlier[0::2]) and len(result.rewritten) == 75
        assert set(result.already_present) == keys(earlier[1::2])
        assert len(result.already_present) == 75
        groups = store.list_groups(limit=1000)
        assert sum(g.times_seen for g in groups) == 350
        assert len(groups) == 90

    def test_events_with_one_hash_form_one_group(self, store: EventStore) -> None:
        store.write_batch(
            [
                make_event(timestamp_ms=T0 + 500),
                make_event(timestamp_ms=T0 + 100, level="warning"),
                make_event(grouping_hash=HASH_B, timestamp_ms=T0),
            ],
            NOW_MS,
        )
        # A later batch with an older event moves first_seen back, not last_seen.
        store.write_batch([make_event(timestamp_ms=T0 + 50, level="fatal")], NOW_MS)

        groups = {g.grouping_hash: g for g in store.list_groups()}
        assert groups.keys() == {HASH_A, HASH_B}
        a = groups[HASH_A]
        assert (a.times_seen, a.first_seen_ms, a.last_seen_ms) == (3, T0 + 50, T0 + 500)
        assert a.level == "error"  # from the latest event
        assert (a.title, a.culprit) == ("TypeError: x is undefined", "src/app.ts in handleClick")
        assert groups[HASH_B].times_seen == 1

    def test_duplicates_inside_a_batch_count_once(self, store: EventStore) -> None:
        a, b = make_event(), make_event(timestamp_ms=T0 + 1)

        result = store.write_batch([a, b, a, a], NOW_MS)

        key_a, key_b = EventKey(1, a["event_id"]), EventKey(1, b["event_id"])
        assert result == WriteResult(inserted=(key_a, key_b), already_present=(key_a, key_a))
        [group] = store.list_groups()
        assert group.times_seen == 2

    def test_the_same_event_id_in_two_projects_is_two_events(self, store: EventStore) -> None:
        event = make_event()
        result = store.write_batch([event, {**event, "project_id": 2}], NOW_MS)

        assert len(result.inserted) == 2
        assert [g.project_id for g in store.list_groups(order="first_seen")] == [1, 2]

    @pytest.mark.parametrize("instances", [1, 2])
    def test_concurrent_writers_keep_counts_exact(
        self, open_test_store: OpenStore, instances: int
    ) -> None:
        stores = [open_test_store() for _ in range(instances)]
        rng = random.Random(7)
        events = [
            make_event(
                project_id=rng.choice([1, 2]),
                grouping_hash=rng.choice("0123456789")[0] * 32,
                timestamp_ms=T0 + rng.randrange(100_000),
            )
            for _ in range(400)
        ]
        plans = [rng.sample(events, 250) for _ in range(8)]  # overlapping subsets
        start = threading.Barrier(len(plans))
        inserted: list[int] = []
        failures: list[BaseException] = []

        def writer(store: EventStore, plan: list[dict[str, Any]]) -> None:
            try:
                start.wait(timeout=10)
                for i in range(0, len(plan), 50):
                    inserted.append(len(write_until_stored(store, plan[i : i + 50]).inserted))
            except BaseException as exc:
                failures.append(exc)

        threads = [
            threading.Thread(target=writer, args=(stores[i % instances], plan))
            for i, plan in enumerate(plans)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures
        assert not any(thread.is_alive() for thread in threads)

        written = {e["event_id"]: e for plan in plans for e in plan}.values()
        assert sum(inserted) == len(written)
        assert len(stores[0].list_events(limit=1000)) == len(written)
        expected: dict[tuple[int, str], tuple[int, int, int]] = {}
        for e in written:
            key = (e["project_id"], e["grouping_hash"])
            count, first, last = expected.get(key, (0, e["timestamp_ms"], e["timestamp_ms"]))
            expected[key] = (count + 1, min(first, e["timestamp_ms"]), max(last, e["timestamp_ms"]))
        actual = {
            (g.project_id, g.grouping_hash): (g.times_seen, g.first_seen_ms, g.last_seen_ms)
            for g in stores[0].list_groups(limit=100)
        }
        assert actual == expected

    def test_get_event_returns_the_record_and_its_columns(self, store: EventStore) -> None:
        event = make_event(release=None, message="boom\nsecond line")
        store.write_batch([event], NOW_MS)

        stored = store.get_event(1, event["event_id"])

        assert stored is not None
        assert stored.record == event
        s = stored.summary
        assert (s.project_id, s.event_id, s.grouping_hash) == (1, event["event_id"], HASH_A)
        assert (s.timestamp_ms, s.received_at_ms, s.stored_at_ms) == (T0, T0 + 5, NOW_MS)
        assert (s.level, s.platform, s.release, s.environment) == (
            "error",
            "javascript",
            None,
            "production",
        )
        assert store.get_event(2, event["event_id"]) is None
        assert store.get_event(1, "0" * 32) is None

    def test_nul_characters_are_stored_as_replacement_characters(self, store: EventStore) -> None:
        event = make_event(exceptions=[], message="a\x00b", tags=[{"key": "k\x00", "value": "v"}])
        store.write_batch([event], NOW_MS)

        stored = store.get_event(1, event["event_id"])

        assert stored is not None
        assert stored.summary.title == "a\ufffdb"
        assert stored.record["tags"] == [{"key": "k\ufffd", "value": "v"}]

    def test_list_events_filters_newest_first(self, store: EventStore) -> None:
        events = [
            make_event(project_id=1, grouping_hash=HASH_A, timestamp_ms=T0 + 1),
            make_event(project_id=1, grouping_hash=HASH_B, timestamp_ms=T0 + 2),
            make_event(project_id=2, grouping_hash=HASH_A, timestamp_ms=T0 + 3),
        ]
        store.write_batch(events, NOW_MS)
        ids = [e["event_id"] for e in events]

        assert [e.event_id for e in store.list_events()] == ids[::-1]
        assert [e.event_id for e in store.list_events(project_id=1)] == [ids[1], ids[0]]
        assert [e.event_id for e in store.list_events(group=HASH_A)] == [ids[2], ids[0]]
        assert [e.event_id for e in store.list_events(project_id=1, group=HASH_A)] == [ids[0]]
        assert [e.event_id for e in store.list_events(event_id=ids[1])] == [ids[1]]
        assert len(store.list_events(limit=2)) == 2
        with pytest.raises(ValueError, match="limit"):
            store.list_events(limit=0)

    def test_list_groups_orders(self, store: EventStore) -> None:
        store.write_batch(
            [
                make_event(grouping_hash=HASH_A, timestamp_ms=T0 + 10),
                make_event(grouping_hash=HASH_A, timestamp_ms=T0 + 11),
                make_event(grouping_hash=HASH_B, timestamp_ms=T0),
                make_event(grouping_hash=HASH_B, timestamp_ms=T0 + 20),
                make_event(grouping_hash=HASH_B, timestamp_ms=T0 + 21),
                make_event(project_id=2, grouping_hash=HASH_A, timestamp_ms=T0 + 5),
            ],
            NOW_MS,
        )

        def order(**kwargs: Any) -> list[tuple[int, str]]:
            return [(g.project_id, g.grouping_hash) for g in store.list_groups(**kwargs)]

        assert order() == [(1, HASH_B), (1, HASH_A), (2, HASH_A)]
        assert order(order="first_seen") == [(1, HASH_A), (2, HASH_A), (1, HASH_B)]
        assert order(order="times_seen") == [(1, HASH_B), (1, HASH_A), (2, HASH_A)]
        assert order(project_id=2) == [(2, HASH_A)]
        assert order(limit=1) == [(1, HASH_B)]

    def test_an_invalid_event_rejects_the_batch_before_writing(self, store: EventStore) -> None:
        good = make_event()
        bad = make_event()
        del bad["grouping_hash"]

        with pytest.raises(InvalidEvent) as caught:
            store.write_batch([good, bad], NOW_MS)

        assert (caught.value.index, caught.value.event_id) == (1, bad["event_id"])
        assert "grouping_hash" in caught.value.reason
        assert store.list_events() == []
        with pytest.raises(InvalidEvent, match="project_id"):
            store.write_batch([{**make_event(), "project_id": "1"}], NOW_MS)
        with pytest.raises(InvalidEvent, match="64 bits"):
            store.write_batch([make_event(timestamp_ms=2**63)], NOW_MS)

    def test_an_empty_batch_writes_nothing(self, store: EventStore) -> None:
        assert store.write_batch([], NOW_MS) == WriteResult(inserted=(), already_present=())

    def test_reopening_keeps_the_data(self, open_test_store: OpenStore) -> None:
        event = make_event()
        first = open_test_store()
        first.write_batch([event], NOW_MS)
        first.close()

        again = open_test_store()

        assert again.get_event(1, event["event_id"]) is not None
        assert again.write_batch([event], NOW_MS).already_present == (
            EventKey(1, event["event_id"]),
        )

    def test_a_closed_store_refuses_work(self, store: EventStore) -> None:
        store.close()
        with pytest.raises(RuntimeError, match="closed"):
            store.list_events()


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store_dsn(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/events.db"

    def test_a_locked_database_is_unavailable_until_released(self, tmp_path: Path) -> None:
        path = tmp_path / "events.db"
        store = open_store(f"sqlite:///{path}", timeout_s=0.05)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        batch = [make_event()]
        try:
            with pytest.raises(StoreUnavailable, match="locked"):
                store.write_batch(batch, NOW_MS)
        finally:
            other.execute("ROLLBACK")
            other.close()

        assert len(store.write_batch(batch, NOW_MS).inserted) == 1
        store.close()

    def test_a_database_that_cannot_be_created_is_unavailable(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("")
        with pytest.raises(StoreUnavailable):
            open_store(f"sqlite:///{tmp_path}/file/events.db")

    def test_its_folder_is_created(self, tmp_path: Path) -> None:
        open_store(f"sqlite:///{tmp_path}/a/b/events.db").close()
        assert (tmp_path / "a" / "b" / "events.db").is_file()


@pytest.mark.parametrize(
    ("dsn", "path"),
    [
        ("sqlite:///.pipeline/events.db", ".pipeline/events.db"),
        ("sqlite:////var/lib/events.db", "/var/lib/events.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_path(dsn: str, path: str) -> None:
    assert sqlite_path(dsn) == path


@pytest.mark.parametrize(
    "dsn", ["sqlite://host/events.db", "sqlite:///", "mysql://db/events", "events.db"]
)
def test_a_dsn_naming_no_known_database_is_a_config_error(dsn: str) -> None:
    with pytest.raises(ConfigError):
        open_store(dsn)


def test_title_and_culprit_come_from_the_main_exception() -> None:
    event = make_event()
    event["exceptions"].insert(0, {"type": "Cause", "value": "inner", "frames": []})
    event["exceptions"][-1]["frames"].append(
        {"filename": "node_modules/lib.js", "function": "call", "in_app": False}
    )
    assert event_title(event) == "TypeError: x is undefined"
    assert event_culprit(event) == "src/app.ts in handleClick"  # the last in-app frame


@pytest.mark.parametrize(
    ("fields", "title", "culprit"),
    [
        ({"exceptions": [], "message": "line one\nline two"}, "line one", None),
        ({"exceptions": [], "message": ""}, "<unlabeled event>", None),
        ({"exceptions": [{"type": "Error", "value": "", "frames": []}]}, "Error", None),
        (
            {"exceptions": [{"type": "E", "frames": [{"module": "m", "in_app": False}]}]},
            "E",
            "m",
        ),
        ({"exceptions": [], "message": "x" * 300}, "x" * 199 + "…", None),
    ],
)
def test_title_and_culprit_fallbacks(
    fields: dict[str, Any], title: str, culprit: str | None
) -> None:
    event = make_event(**fields)
    assert (event_title(event), event_culprit(event)) == (title, culprit)


class TestBrowseCli:
    @pytest.fixture
    def dsn(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/events.db"

    @pytest.fixture
    def events(self, dsn: str) -> list[dict[str, Any]]:
        events = [
            make_event(timestamp_ms=T0),
            make_event(timestamp_ms=T0 + 1000, grouping_hash=HASH_B, exceptions=[], message="hi"),
        ]
        store = open_store(dsn)
        store.write_batch(events, NOW_MS)
        store.close()
        return events

    @pytest.fixture
    def runner(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
        monkeypatch.chdir(tmp_path)  # no ./pipeline.yaml of the developer's
        monkeypatch.delenv("PIPELINE_CONFIG", raising=False)
        configure_logging("warning")  # as the root command does: logs to stderr
        return CliRunner(env={"COLUMNS": "200"})

    def test_events_list_as_table_and_json(
        self, runner: CliRunner, dsn: str, events: list[dict[str, Any]]
    ) -> None:
        table = runner.invoke(events_app, ["list", "--dsn", dsn])
        assert table.exit_code == 0, table.output
        assert events[0]["event_id"] in table.output
        assert "TypeError" in table.output

        listed = runner.invoke(events_app, ["list", "--dsn", dsn, "--json", "--group", HASH_B])
        assert listed.exit_code == 0, listed.output
        assert [e["event_id"] for e in json.loads(listed.stdout)] == [events[1]["event_id"]]

    def test_events_list_reads_the_dsn_from_the_settings(
        self, runner: CliRunner, dsn: str, events: list[dict[str, Any]]
    ) -> None:
        result = runner.invoke(events_app, ["list", "--json"], env={"PIPELINE_STORE__DSN": dsn})
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)) == 2

    def test_events_show_is_readable(
        self, runner: CliRunner, dsn: str, events: list[dict[str, Any]]
    ) -> None:
        result = runner.invoke(events_app, ["show", events[0]["event_id"], "--dsn", dsn])
        assert result.exit_code == 0, result.output
        for expected in ("TypeError: x is undefined", "web@1.2.3", "production", "browser"):
            assert expected in result.output
        assert "handleClick" in result.output
        assert "const y = x.value;" in result.output
        assert "app.min.js:1:2345" in result.output

    def test_events_show_as_json(
        self, runner: CliRunner, dsn: str, events: list[dict[str, Any]]
    ) -> None:
        args = ["show", events[1]["event_id"], "--project", "1", "--json", "--dsn", dsn]
        result = runner.invoke(events_app, args)
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert shown["record"] == events[1]
        assert shown["title"] == "hi"

    def test_a_missing_event_exits_1(
        self, runner: CliRunner, dsn: str, events: list[dict[str, Any]]
    ) -> None:
        result = runner.invoke(events_app, ["show", "f" * 32, "--dsn", dsn])
        assert result.exit_code == 1
        assert f"event {'f' * 32} not found" in result.output

    def test_groups_list(self, runner: CliRunner, dsn: str, events: list[dict[str, Any]]) -> None:
        table = runner.invoke(groups_app, ["list", "--dsn", dsn])
        assert table.exit_code == 0, table.output
        assert HASH_A in table.output

        listed = runner.invoke(groups_app, ["list", "--dsn", dsn, "--json", "--sort", "first_seen"])
        assert listed.exit_code == 0, listed.output
        assert [g["grouping_hash"] for g in json.loads(listed.stdout)] == [HASH_B, HASH_A]

    @pytest.mark.parametrize("dsn", ["sqlite:///nowhere/events.db", "mysql://db"])
    def test_a_database_that_cannot_be_opened_is_a_user_error(
        self, runner: CliRunner, dsn: str
    ) -> None:
        result = runner.invoke(events_app, ["list", "--dsn", dsn])
        assert isinstance(result.exception, StoreNotReadable | ConfigError)
