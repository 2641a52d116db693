"""What the cases feed and run: message values, run sizes, and the stages under test."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.loops import BareLoop, Running, RuntimeThread
from benchmarks.measure import Bench, StartStage
from pipeline.config import load_settings
from pipeline.runtime.stage import ExecutionMode, StageSpec
from tests.support.stages import AsyncScripted, Scripted

VALUE_BYTES = 200


def hex_values(length: int, count: int = 1024, seed: int = 20) -> tuple[bytes, ...]:
    """Hex text: compresses about as well as event JSON does, unlike a run of one repeated byte
    (whose tiny compressed batches make the consumer fetch far more than its limits suggest)."""
    rng = random.Random(seed)
    return tuple(rng.randbytes(length // 2).hex().encode() for _ in range(count))


PLAIN_VALUES = hex_values(VALUE_BYTES)
SLOW_EVERY = 101
"""One message in 101 (1%) is slow. A prime, so over any partition count the slow ones spread
across every partition: with 100 and 4 partitions (messages go round-robin) they all landed on
one, which made that partition 4% slow instead of the stage 1%."""
SLOW_S = 2


@dataclass(frozen=True)
class Sizes:
    messages: int
    """Backlog drained by (a), (b) and (d)."""
    repeats: int
    """(a) and (b) alternate this many times (at least 3, quick runs too); the ratio of their
    medians counts, so one lucky or unlucky run cannot decide it."""
    paced_rate: int
    paced_s: float
    cpu_ms: float
    cpu_messages: int
    slow_deadline_s: float
    rss_backlogs: tuple[int, int]
    rss_value_bytes: int


FULL = Sizes(500_000, 3, 1000, 5.0, 3.0, 4000, 60.0, (10_000, 1_000_000), 50)
QUICK = Sizes(50_000, 3, 1000, 2.0, 3.0, 1200, 15.0, (10_000, 100_000), 50)


def slow_value(i: int) -> bytes:
    if is_slow(i):
        return f"sleep:{SLOW_S}:{i}:".encode().ljust(VALUE_BYTES, b"x")
    return plain(i)


def is_slow(i: int) -> bool:
    return i % SLOW_EVERY == SLOW_EVERY // 2


def never(_: int) -> bool:
    return False


def plain(i: int) -> bytes:
    return PLAIN_VALUES[i % len(PLAIN_VALUES)]


def bare_stage(bench: Bench) -> StartStage:
    def start(input_topic: str, output_topic: str, group: str) -> Running:
        return BareLoop(bench.bootstrap, group, input_topic, output_topic).start()

    return start


def runtime_stage(
    bench: Bench,
    profile_dir: Path | None,
    mode: ExecutionMode = "threads",
    coroutine: bool = False,
    **limits: Any,
) -> StartStage:
    """The runtime with load_settings() defaults; only the broker, the HTTP port and ``limits``
    differ. ``coroutine`` runs the scripted stage as an ``async def`` function."""

    def start(input_topic: str, output_topic: str, group: str) -> Running:
        settings = load_settings(
            kafka={"bootstrap_servers": bench.bootstrap}, runtime={"http_port": 0, **limits}
        )
        process = AsyncScripted(output_topic) if coroutine else Scripted(output_topic)
        spec = StageSpec("bench", input_topic, group, process, mode=mode)
        profile_to = None
        if profile_dir is not None:
            profile_to = profile_dir / f"{group.removeprefix(bench.topics.prefix)}.pstats"
        return RuntimeThread(spec, settings, profile_to).start()

    return start
