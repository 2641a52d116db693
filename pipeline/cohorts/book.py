"""The runtime's per-cohort bookkeeping: what each assigned partition took, finished and holds.

Exactly once per message, across crashes and rebalances: the committed counts of a partition
travel in the metadata of its offset commit, which Kafka stores atomically with the offset. The
next owner of the partition reads them with the committed offset and starts counting exactly
where they stop, so a message processed again after a crash is counted once. A message is
counted as done when its offset is committed (in flight until then), and under the outcome its
emitted records show (see ``column_of``). Drains commit to the backlog ledger instead; a
crashed drain may count up to one progress interval again.

Summaries of every partition go to a compacted topic keyed by stage, group, topic and partition,
so `pipeline cohorts` needs only the broker; their values are rebuilt from the committed counts,
so a stale summary is overwritten by the next owner's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.cohorts.counts import (
    COLUMNS,
    FILTERED,
    FORWARDED,
    OUTCOME_HEADER,
    REPLAYED,
    REPLAYED_HEADER,
    STORED,
    Done,
    decode_done,
    encode_done,
    outcome_of_kind,
)
from pipeline.observability.histogram import Buckets
from pipeline.runtime.messages import Emit, Headers, Produce, Write

METADATA_LIMIT_BYTES = 4000
"""Brokers refuse commit metadata above offset.metadata.max.bytes (4096 by default)."""


class _Run:
    """Consecutive offsets ``first``..``last`` that finished under one cohort and column."""

    __slots__ = ("cohort", "column", "first", "last")

    def __init__(self, offset: int, cohort: int, column: int) -> None:
        self.first = self.last = offset
        self.cohort, self.column = cohort, column


class PartitionCohorts:
    """Counts of one assigned input partition; touched by the consumer loop's thread only."""

    __slots__ = ("done", "finished", "in_flight")

    def __init__(self, done: Done | None = None) -> None:
        self.done: Done = done or {}
        """Committed: cohort index to counts per column."""
        self.in_flight: dict[int, int] = {}
        """Taken first passes not yet committed, per cohort."""
        self.finished: dict[int, _Run] = {}
        """Messages finished but not yet committed, as runs keyed by the offset after their
        last. A partition finishes mostly in order, so a commit interval is a few runs: an entry
        per offset held 45 MiB at 200k messages a second, and grew peak RSS with the backlog."""

    def take(self, cohort: int) -> None:
        self.in_flight[cohort] = self.in_flight.get(cohort, 0) + 1

    def finish(self, offset: int, cohort: int, column: int) -> None:
        run = self.finished.pop(offset, None)
        if run is None or run.cohort != cohort or run.column != column:
            if run is not None:
                self.finished[offset] = run
            run = _Run(offset, cohort, column)
        run.last = offset
        self.finished[offset + 1] = run

    def fold(self, committed: int, keep: int) -> None:
        """Everything finished below ``committed`` becomes done; only ``keep`` cohorts stay."""
        done, in_flight, finished = self.done, self.in_flight, self.finished
        for key in [key for key, run in finished.items() if run.first < committed]:
            run = finished[key]
            upto = min(run.last, committed - 1)
            count = upto - run.first + 1
            if upto == run.last:
                del finished[key]
            else:
                run.first = committed  # the rest of the run is above the commit
            row = done.get(run.cohort)
            if row is None:
                row = done[run.cohort] = [0] * COLUMNS
            row[run.column] += count
            if run.column != REPLAYED:
                left = in_flight.get(run.cohort, 0) - count
                if left > 0:
                    in_flight[run.cohort] = left
                else:
                    in_flight.pop(run.cohort, None)
        for old in sorted(done)[: max(0, len(done) - keep)]:
            del done[old]

    def abandon(self) -> None:
        """The partition was moved past its in-flight work (a backlog slice): forget it."""
        self.in_flight.clear()
        self.finished.clear()


def column_of(emits: Sequence[Emit]) -> int:
    """What a message came to, from what processing emitted for it: written to the sink is
    stored; any record that is not an outcome is forwarded; else the outcome's kind; nothing at
    all is filtered."""
    kind: bytes | None = None
    for emit in emits:
        if isinstance(emit, Write):
            return STORED
        found = _header(emit.headers, OUTCOME_HEADER)
        if found is None:
            return FORWARDED
        kind = kind or found
    return FILTERED if kind is None else outcome_of_kind(kind)


def is_replayed(headers: Headers) -> bool:
    return _header(headers, REPLAYED_HEADER) is not None


def _header(headers: Headers, name: str) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


@dataclass
class CohortBook:
    """One stage's cohort counting: the partitions it owns and the summaries it publishes."""

    stage: str
    group: str
    topic: str
    """The (prefixed) compacted summaries topic."""
    width_ms: int
    keep: int
    instance: str
    latency: Callable[[], Mapping[int, Buckets]]
    """The stage's end-to-end histograms by cohort index (StageMetrics.cohorts)."""
    bounds: Sequence[float]
    drain: bool = False
    """A backlog drain's book: its group commits to the ledger, not to Kafka."""
    parts: dict[tuple[str, int], tuple[PartitionCohorts, str]] = field(default_factory=dict)

    def open(
        self, topic: str, partition: int, metadata: str | None, segment: str = ""
    ) -> PartitionCohorts:
        """Counts for a newly assigned partition, carried on from its commit metadata.

        ``segment`` tells apart the summaries of drain ranges of one partition."""
        part = PartitionCohorts(decode_done(metadata, self.width_ms))
        key = f"{self.stage}/{self.group}/{topic}/{partition}"
        self.parts[(topic, partition)] = (part, f"{key}/{segment}" if segment else key)
        return part

    def close(self, topic: str, partition: int) -> None:
        self.parts.pop((topic, partition), None)

    def metadata(self, part: PartitionCohorts) -> str:
        return encode_done(part.done, self.width_ms, self.keep, METADATA_LIMIT_BYTES)

    def summaries(self, now_ms: int, only: set[tuple[str, int]] | None = None) -> Iterator[Produce]:
        """A summary record per owned partition (or those in ``only``), plus the latency one."""
        width = self.width_ms
        for (topic, partition), (part, key) in list(self.parts.items()):
            if only is not None and (topic, partition) not in only:
                continue
            value = {
                "kind": "partition",
                "stage": self.stage,
                "group": self.group,
                "drain": self.drain,
                "topic": topic,
                "partition": partition,
                "width_ms": width,
                "updated_ms": now_ms,
                "done": {str(c * width): row for c, row in part.done.items()},
                "in_flight": {str(c * width): n for c, n in part.in_flight.items()},
            }
            yield Produce(self.topic, _json(value), key.encode())
        if only is None:
            yield self._latency_summary(now_ms)

    def _latency_summary(self, now_ms: int) -> Produce:
        """Histograms per instance: percentiles tolerate a message measured twice."""
        cohorts = {
            str(c * self.width_ms): list(b.counts)
            for c, b in sorted(self.latency().items())[-self.keep :]
        }
        value = {
            "kind": "latency",
            "stage": self.stage,
            "instance": self.instance,
            "width_ms": self.width_ms,
            "updated_ms": now_ms,
            "bounds": list(self.bounds),
            "cohorts": cohorts,
        }
        key = f"latency/{self.stage}/{self.instance}"
        return Produce(self.topic, _json(value), key.encode())


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
