"""Batches items for the stage's sink on its own thread, so a slow database never blocks polling.

A batch that fails with SinkUnavailable is retried as a whole, with backoff, until it is written
or the stage stops (unwritten items are never committed, so nothing is lost). A batch that fails
for another reason is split into single items so one bad item cannot sink the others.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any

import structlog

from pipeline.runtime.errors import SinkUnavailable
from pipeline.runtime.messages import Produce
from pipeline.runtime.stage import Sink

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class SinkDone:
    """Completion: these tasks' items are durably written; produce their follow-ups next."""

    written: Sequence[tuple[Any, Sequence[Produce]]]


@dataclass(frozen=True, slots=True)
class SinkFailed:
    """Completion: this task's items cannot be written (not an outage); dead-letter it."""

    task: Any
    error: str


class SinkWriter:
    def __init__(
        self,
        sink: Sink,
        completions: SimpleQueue[Any],
        batch_size: int,
        max_wait_s: float,
        initial_backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._completions = completions
        self._batch_size = batch_size
        self._max_wait = max_wait_s
        self._backoff = (initial_backoff_s, max_backoff_s)
        self._clock = clock
        self._queue: SimpleQueue[tuple[Any, Sequence[Any]]] = SimpleQueue()
        self._stop = threading.Event()
        self._unavailable = False
        self._thread = threading.Thread(target=self._run, name="sink-writer", daemon=True)
        self._thread.start()

    @property
    def unavailable(self) -> bool:
        """True while the sink is failing: the loop pauses intake until it clears."""
        return self._unavailable

    def submit(self, task: Any, items: Sequence[Any]) -> None:
        self._queue.put((task, items))

    def close(self, timeout: float) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._sink.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                self._write(batch)

    def _collect(self) -> list[tuple[Any, Sequence[Any]]]:
        try:
            batch = [self._queue.get(timeout=0.1)]
        except Empty:
            return []
        count = len(batch[0][1])
        deadline = self._clock() + self._max_wait
        while count < self._batch_size:
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            try:
                entry = self._queue.get(timeout=remaining)
            except Empty:
                break
            batch.append(entry)
            count += len(entry[1])
        return batch

    def _write(self, batch: list[tuple[Any, Sequence[Any]]]) -> None:
        backoff = self._backoff[0]
        while batch and not self._stop.is_set():
            try:
                follow_ups = self._sink.write([item for _, items in batch for item in items])
                self._completions.put(SinkDone(_per_task(batch, follow_ups)))
                batch = []
            except SinkUnavailable as exc:
                self._mark_unavailable(exc, backoff)
                backoff = min(backoff * 2, self._backoff[1])
            except Exception:
                batch = self._isolate_failures(batch)
        if self._unavailable and not batch:
            log.info("sink.recovered")
            self._unavailable = False

    def _mark_unavailable(self, exc: Exception, backoff: float) -> None:
        if not self._unavailable:
            log.warning("sink.unavailable", error=str(exc))
        self._unavailable = True
        self._stop.wait(backoff * (0.5 + random.random() / 2))

    def _isolate_failures(
        self, batch: list[tuple[Any, Sequence[Any]]]
    ) -> list[tuple[Any, Sequence[Any]]]:
        """Write entries one by one; returns what is left if the sink goes away meanwhile."""
        for index, (task, items) in enumerate(batch):
            try:
                follow_ups = self._sink.write(items)
            except SinkUnavailable:
                return batch[index:]
            except Exception as exc:
                log.error("sink.item_failed", error=repr(exc))
                self._completions.put(SinkFailed(task, f"{type(exc).__name__}: {exc}"[:2000]))
            else:
                self._completions.put(SinkDone(_per_task([(task, items)], follow_ups)))
        return []


def _per_task(
    batch: Sequence[tuple[Any, Sequence[Any]]], follow_ups: Sequence[Sequence[Produce]]
) -> list[tuple[Any, Sequence[Produce]]]:
    """Regroup the sink's per-item follow-up records by the task that submitted the items."""
    if not follow_ups:
        return [(task, ()) for task, _ in batch]
    grouped: list[tuple[Any, Sequence[Produce]]] = []
    index = 0
    for task, items in batch:
        records = [r for per_item in follow_ups[index : index + len(items)] for r in per_item]
        grouped.append((task, records))
        index += len(items)
    return grouped
