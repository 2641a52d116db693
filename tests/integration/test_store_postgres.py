"""The event store on a real PostgreSQL server: the shared contract, plus outages."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.adapters.db import EventStore, StoreUnavailable, open_store
from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import KafkaSettings
from pipeline.runtime.errors import SinkUnavailable
from pipeline.stages.outcomes import Outcomes
from pipeline.stages.store.sink import EventSink, StoreItem
from pipeline.stages.store.stage import INPUT_TOPIC as TOPIC
from pipeline.stages.store.stage import SCHEMA, DecodeEvent
from tests.support.cut_after_commit import cut_after_commit
from tests.support.postgres import PostgresServer
from tests.unit.test_store_sqlite import HASH_A, NOW_MS, T0, StoreContract, make_event

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_dsn(self, postgres_database: str) -> str:
        return postgres_database

    def test_an_outage_is_unavailable_and_the_retried_batch_counts_once(
        self, postgres_server: PostgresServer, store: EventStore
    ) -> None:
        before = [make_event(timestamp_ms=T0 + i) for i in range(3)]
        store.write_batch(before, NOW_MS)
        batch = [make_event(timestamp_ms=T0 + 10 + i) for i in range(5)] + before[:1]

        postgres_server.stop()
        try:
            with pytest.raises(StoreUnavailable):  # the open connection is cut
                store.write_batch(batch, NOW_MS)
            with pytest.raises(StoreUnavailable):  # reconnecting is refused
                store.write_batch(batch, NOW_MS)
            with pytest.raises(StoreUnavailable):
                store.list_groups()
        finally:
            postgres_server.start()

        result = store.write_batch(batch, NOW_MS)
        assert len(result.inserted) == 5
        assert len(result.already_present) == 1
        assert store.write_batch(batch, NOW_MS).inserted == ()
        [group] = store.list_groups()
        assert (group.grouping_hash, group.times_seen) == (HASH_A, 8)
        assert (group.first_seen_ms, group.last_seen_ms) == (T0, T0 + 14)
        assert len(store.list_events(limit=100)) == 8

    def test_an_unreachable_server_is_unavailable_on_open(
        self, postgres_server: PostgresServer
    ) -> None:
        dsn = f"postgresql://nobody@127.0.0.1:{postgres_server.port}/missing"
        postgres_server.stop()
        try:
            with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1"):
                open_store(dsn, timeout_s=2)
        finally:
            postgres_server.start()

    def test_a_missing_database_is_unavailable_on_open(
        self, postgres_server: PostgresServer
    ) -> None:
        with pytest.raises(StoreUnavailable, match="does not exist"):
            open_store(postgres_server.dsn("no_such_database"))

    def test_the_session_dsn_is_a_working_database(self, postgres_dsn: str) -> None:
        event = make_event()
        store = open_store(postgres_dsn)
        try:
            store.write_batch([event], NOW_MS)
            assert store.get_event(1, event["event_id"]) is not None
        finally:
            store.close()


def test_a_commit_whose_acknowledgement_was_lost_still_owes_each_outcome_once(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    """The batch commits, the connection dies before the answer: the retry of the same input
    messages finds their rows and emits every accepted outcome once; another message carrying
    an already stored event (a duplicate) emits none; the group counts each event once."""
    codec = make_codec(KafkaSettings())
    with cut_after_commit(postgres_server.port) as proxy:
        dsn = postgres_database.replace(f":{postgres_server.port}/", f":{proxy.port}/")
        sink = EventSink(
            lambda: open_store(dsn, timeout_s=5), Outcomes(codec, "o", "store"), DecodeEvent(codec)
        )
        events = [make_event(timestamp_ms=T0 + i) for i in range(5)]

        def item(event: dict[str, Any], source: str) -> StoreItem:
            return StoreItem(codec.encode(SCHEMA, event, TOPIC), TOPIC, source)

        items = [item(e, f"{TOPIC}/0/{n}") for n, e in enumerate(events)]
        try:
            assert sink.connect()  # the schema's own COMMIT goes through untouched
            proxy.armed.set()
            with pytest.raises(SinkUnavailable):
                sink.write(items)
            assert proxy.cuts == 1
            retried = sink.write(items)
            duplicate = sink.write([item(events[0], f"{TOPIC}/1/7")])
        finally:
            sink.close()
    accepted = [codec.decode("outcome", r.value or b"", "o") for rs in retried for r in rs]
    assert sorted(o["event_id"] for o in accepted) == sorted(e["event_id"] for e in events)
    assert {o["outcome"] for o in accepted} == {"accepted"}
    assert duplicate == [()]
    store = open_store(postgres_database)
    try:
        [group] = store.list_groups()
        assert group.times_seen == 5
    finally:
        store.close()
