"""SinkWriter with an in-memory sink: batches, outage retries, isolating a bad item."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from queue import SimpleQueue
from typing import Any

import pytest

from pipeline.runtime.messages import Produce
from pipeline.runtime.sink_writer import SinkDone, SinkFailed, SinkWriter
from tests.support.runtime import wait_for
from tests.support.stages import ListSink

TIMEOUT_S = 5.0


class PickySink(ListSink):
    """Refuses items starting with "bad"; returns one follow-up record per good item."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Any]] = []

    def write(self, items: Sequence[Any]) -> Sequence[Sequence[Produce]]:
        self.batches.append(list(items))
        if any(str(item).startswith("bad") for item in items):
            raise RuntimeError("constraint violated")
        super().write(items)
        return [[Produce("outcomes", str(item).encode())] for item in items]


@pytest.fixture
def completions() -> SimpleQueue[Any]:
    return SimpleQueue()


@contextmanager
def running(
    sink: ListSink, completions: SimpleQueue[Any], batch_size: int = 100
) -> Iterator[SinkWriter]:
    writer = SinkWriter(
        sink, completions, batch_size, max_wait_s=0.05, initial_backoff_s=0.01, max_backoff_s=0.02
    )
    try:
        yield writer
    finally:
        writer.close(timeout=TIMEOUT_S)


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def writer(sink: ListSink, completions: SimpleQueue[Any]) -> Iterator[SinkWriter]:
    with running(sink, completions) as started:
        yield started


def test_submitted_items_are_written_and_reported_per_task(
    sink: ListSink, completions: SimpleQueue[Any], writer: SinkWriter
) -> None:
    writer.submit("task-a", ["a1", "a2"])
    writer.submit("task-b", ["b1"])
    done = completions.get(timeout=TIMEOUT_S)
    assert isinstance(done, SinkDone)
    assert [task for task, _ in done.written] == ["task-a", "task-b"]
    assert sink.written() == ["a1", "a2", "b1"]


def test_an_outage_holds_the_batch_and_pauses_until_the_sink_recovers(
    sink: ListSink, completions: SimpleQueue[Any], writer: SinkWriter
) -> None:
    sink.failing = True
    writer.submit("task", ["item"])
    wait_for(lambda: writer.unavailable and sink.failed_writes >= 3, "retried outage", TIMEOUT_S)
    assert completions.empty()
    assert sink.written() == []
    sink.failing = False
    done = completions.get(timeout=TIMEOUT_S)
    assert isinstance(done, SinkDone) and [t for t, _ in done.written] == ["task"]
    assert sink.written() == ["item"]
    wait_for(lambda: not writer.unavailable, "the writer to report recovery", TIMEOUT_S)


def test_a_bad_item_fails_alone_and_follow_ups_reach_their_own_task(
    completions: SimpleQueue[Any],
) -> None:
    sink = PickySink()
    with running(sink, completions, batch_size=3) as writer:
        writer.submit("good-1", ["g1", "g2"])
        writer.submit("bad", ["bad1"])
        writer.submit("good-2", ["g3"])
        results = [completions.get(timeout=TIMEOUT_S) for _ in range(3)]
    assert sink.batches[0] == ["g1", "g2", "bad1"]  # one batch, then item by item
    failed = [r for r in results if isinstance(r, SinkFailed)]
    assert [(f.task, f.error) for f in failed] == [("bad", "RuntimeError: constraint violated")]
    follow_ups = {
        task: [record.value for record in records]
        for r in results
        if isinstance(r, SinkDone)
        for task, records in r.written
    }
    assert follow_ups == {"good-1": [b"g1", b"g2"], "good-2": [b"g3"]}
    assert sink.written() == ["g1", "g2", "g3"]
