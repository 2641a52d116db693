"""The benchmark cases (a)-(e) and their targets; DESIGN.md "The stage runtime" says why each."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.ceiling import cpu_rate
from benchmarks.kafka_io import prefill
from benchmarks.loops import BareLoop, Pauses, Running, RuntimeThread
from benchmarks.measure import Bench, Drained, StartStage, drain, paced
from benchmarks.report import Figure, Target
from benchmarks.rss import run_and_measure
from pipeline.config import load_settings
from pipeline.runtime.stage import ExecutionMode, StageSpec
from tests.support.stages import INPUT, OUTPUT, Scripted, burn_cpu

VALUE_BYTES = 200
_seeded = random.Random(20)
PLAIN_VALUES = tuple(_seeded.randbytes(VALUE_BYTES // 2).hex().encode() for _ in range(1024))
"""Hex text: compresses about as well as event JSON does, unlike a run of one repeated byte."""
SLOW_EVERY = 100
SLOW_S = 2


@dataclass(frozen=True)
class Sizes:
    messages: int
    """Backlog drained by (a), (b) and (d)."""
    repeats: int
    """(a) and (b) alternate this many times; the best of each counts (noise only slows)."""
    paced_rate: int
    paced_s: float
    cpu_ms: float
    cpu_messages: int
    slow_deadline_s: float
    rss_backlogs: tuple[int, int]
    rss_value_bytes: int
    cpu_default_workers: bool
    """Also run (c) in processes mode with the default worker count, for context."""


FULL = Sizes(200_000, 2, 1000, 5.0, 3.0, 6000, 60.0, (10_000, 1_000_000), 50, True)
QUICK = Sizes(50_000, 1, 1000, 2.0, 3.0, 1200, 15.0, (10_000, 100_000), 50, False)


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


def slow_value(i: int) -> bytes:
    if i % SLOW_EVERY == SLOW_EVERY // 2:
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
    **limits: Any,
) -> StartStage:
    """The runtime with load_settings() defaults; only the broker, the HTTP port and ``limits``
    differ."""

    def start(input_topic: str, output_topic: str, group: str) -> Running:
        settings = load_settings(
            kafka={"bootstrap_servers": bench.bootstrap}, runtime={"http_port": 0, **limits}
        )
        spec = StageSpec("bench", input_topic, group, Scripted(output_topic), mode=mode)
        profile_to = None
        if profile_dir is not None:
            profile_to = profile_dir / f"{group.removeprefix(bench.topics.prefix)}.pstats"
        return RuntimeThread(spec, settings, profile_to).start()

    return start


def figure(case: str, run: str, drained: Drained, note: str = "") -> Figure:
    notes = [note] if note else []
    if drained.cpu_us_per_message is not None:
        notes.append(f"{drained.cpu_us_per_message:.1f} us CPU/msg")
    if drained.pauses:
        notes.append(pauses_note(drained.pauses))
    if drained.progress.elapsed_s is None:
        notes.append(f"{drained.progress.done:,}/{drained.progress.total:,} done at deadline")
    return Figure(
        case,
        run,
        rate=drained.progress.steady_rate(),
        elapsed_s=drained.progress.elapsed_s,
        note="; ".join(notes),
    )


def pauses_note(pauses: Pauses) -> str:
    return "pauses " + ", ".join(f"{reason}={n:,}" for reason, n in sorted(pauses.items()))


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def baseline_and_runtime(
    bench: Bench, sizes: Sizes, want: set[str], profile_dir: Path | None, out: Results
) -> None:
    """(a) bare loop and (b) the runtime with default limits, alternating on one input."""
    topic = bench.input("plain", sizes.messages, plain)
    stages = {"a": bare_stage(bench), "b": runtime_stage(bench, profile_dir)}
    names = {"a": "bare consume->produce", "b": "runtime, identity, default limits"}
    best: dict[str, float] = {}
    for repeat in range(1, sizes.repeats + 1):
        for case in sorted(want & {"a", "b"}):
            drained = drain(bench, case, topic, sizes.messages, stages[case], 120)
            out.figures.append(figure(case, f"{names[case]} (run {repeat})", drained))
            best[case] = max(best.get(case, 0.0), drained.progress.steady_rate())
    for case in sorted(want & {"a", "b"}):
        result = paced(
            bench, f"{case}-paced", stages[case], sizes.paced_rate, sizes.paced_s, plain, never
        )
        out.figures.append(
            Figure(
                case,
                f"{names[case]}, paced {sizes.paced_rate}/s",
                latency=result.fast,
                note=pauses_note(result.pauses) if result.pauses else "",
            )
        )
    if {"a", "b"} <= want:
        out.targets.append(
            Target("b", "runtime / bare throughput (best runs)", ratio(best["b"], best["a"]), 0.70)
        )


def cpu_bound(bench: Bench, sizes: Sizes, profile_dir: Path | None, out: Results) -> None:
    """(c) CPU-bound work: processes mode should use both cores, threads mode only one."""
    iterations = calibrate(sizes.cpu_ms)
    topic = bench.input(
        f"cpu{iterations}", sizes.cpu_messages, lambda i: f"cpu:{iterations}:{i}".encode()
    )
    deadline = sizes.cpu_messages * sizes.cpu_ms / 1000 * 2 + 60
    cores = os.cpu_count() or 1
    runs: list[tuple[str, StartStage]] = [
        ("threads, default limits", runtime_stage(bench, profile_dir)),
        (
            f"processes, workers={cores}",
            runtime_stage(bench, profile_dir, "processes", workers=cores),
        ),
    ]
    if sizes.cpu_default_workers:
        runs.append(("processes, default workers", runtime_stage(bench, profile_dir, "processes")))
    one = cpu_rate(1, iterations, sizes.cpu_messages // 4)
    many = cpu_rate(cores, iterations, sizes.cpu_messages // 4)
    bench.say(f"machine ceiling: {one:,.0f} msg/s in 1 process, {many:,.0f} in {cores}")
    ceiling = f"{cores} processes / 1 = {many / one:.2f}: the most (c) can show right now"
    out.figures.append(Figure("c", "machine: burn_cpu alone, 1 process", rate=one))
    out.figures.append(
        Figure("c", f"machine: burn_cpu alone, {cores} processes", rate=many, note=ceiling)
    )
    rates: list[float] = []
    for name, start in runs:
        drained = drain(bench, "c", topic, sizes.cpu_messages, start, deadline)
        rates.append(drained.progress.steady_rate())
        out.figures.append(figure("c", name, drained, f"cpu:{iterations} ~{sizes.cpu_ms:g} ms"))
    out.targets.append(
        Target("c", f"processes (workers={cores}) / threads", ratio(rates[1], rates[0]), 1.6)
    )


def calibrate(target_ms: float) -> int:
    """Iterations of burn_cpu that take about ``target_ms`` of CPU (best of three: CPU time, so
    other processes competing for the cores do not skew it)."""
    probe = 20_000
    fastest = min(_cpu_time(lambda: burn_cpu(probe)) for _ in range(3))
    return max(1, round(target_ms / 1000 / (fastest / probe)))


def _cpu_time(call: Callable[[], object]) -> float:
    started = time.thread_time()
    call()
    return time.thread_time() - started


def head_of_line(bench: Bench, sizes: Sizes, profile_dir: Path | None, out: Results) -> None:
    """(d) 1% of messages sleep 2 s: throughput while they are in flight, against none slow."""
    start = runtime_stage(bench, profile_dir)
    plain_topic = bench.input("plain", sizes.messages, plain)
    mixed_topic = bench.input("slow", sizes.messages, slow_value)
    fast = drain(bench, "d-none", plain_topic, sizes.messages, start, 120)
    out.figures.append(figure("d", "default limits, none slow", fast))
    slow = drain(bench, "d-slow", mixed_topic, sizes.messages, start, sizes.slow_deadline_s)
    out.figures.append(figure("d", f"default limits, 1% sleep:{SLOW_S}", slow))
    result = paced(bench, "d-paced", start, sizes.paced_rate, sizes.paced_s, slow_value, is_slow)
    out.figures.append(
        Figure(
            "d",
            f"1% sleep:{SLOW_S}, paced {sizes.paced_rate}/s, fast messages",
            latency=result.fast,
            note=pauses_note(result.pauses) if result.pauses else "",
        )
    )
    out.figures.append(
        Figure(
            "d", f"1% sleep:{SLOW_S}, paced {sizes.paced_rate}/s, slow ones", latency=result.slow
        )
    )
    out.targets.append(
        Target(
            "d",
            "1%-slow / none-slow throughput",
            ratio(slow.progress.steady_rate(), fast.progress.steady_rate()),
            0.80,
        )
    )


def memory(bench: Bench, sizes: Sizes, out: Results) -> None:
    """(e) Peak RSS of `pipeline run` on a small and a huge backlog: memory must not follow it."""
    values = tuple(
        _seeded.randbytes(sizes.rss_value_bytes // 2).hex().encode() for _ in range(1024)
    )

    def small(i: int) -> bytes:
        return values[i % len(values)]

    peaks: list[float] = []
    for backlog in sizes.rss_backlogs:
        label = bench.label(f"e{backlog}")
        input_topic, output_topic = bench.topics.create(f"{label}.{INPUT}", f"{label}.{OUTPUT}")
        seconds = prefill(bench.bootstrap, input_topic, bench.partitions, backlog, small)
        bench.say(f"pre-filled {label}: {backlog:,} messages in {seconds:.1f}s")
        footprint = run_and_measure(
            bench.bootstrap,
            bench.topics.prefix + label + ".",
            bench.topics.prefix + label,
            output_topic,
            bench.partitions,
            backlog,
            deadline_s=max(60.0, backlog / 5000),
        )
        peaks.append(footprint.peak_rss_mib)
        bench.say(f"{label}: peak RSS {footprint.peak_rss_mib:.0f} MiB")
        out.figures.append(
            Figure(
                "e",
                f"`pipeline run`, backlog {backlog:,} x {sizes.rss_value_bytes} B",
                rate=footprint.progress.steady_rate(),
                elapsed_s=footprint.progress.elapsed_s,
                note=f"peak RSS {footprint.peak_rss_mib:.0f} MiB",
            )
        )
    low, high = sizes.rss_backlogs
    out.targets.append(
        Target("e", f"peak RSS {high:,} / {low:,} backlog", ratio(peaks[1], peaks[0]), 0.8, 1.2)
    )
