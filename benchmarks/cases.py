"""The benchmark cases (a)-(e) and their targets; DESIGN.md "The stage runtime" says why each."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.ceiling import cpu_rate
from benchmarks.kafka_io import prefill
from benchmarks.loops import Pauses
from benchmarks.measure import Bench, Drained, StartStage, drain, paced
from benchmarks.report import Figure, Results, Target
from benchmarks.rss import run_and_measure
from benchmarks.workload import (
    SLOW_S,
    Sizes,
    bare_stage,
    hex_values,
    is_slow,
    never,
    plain,
    runtime_stage,
    slow_value,
)
from tests.support.stages import INPUT, OUTPUT, burn_cpu

RUNTIME_VS_BARE = 0.85
"""The runtime keeps at least this share of a bare loop's throughput (the same work, no
bookkeeping); benchmarks.stages holds each real stage to it too."""


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
        cut_off=drained.progress.elapsed_s is None,
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
    rates: dict[str, list[float]] = {"a": [], "b": []}
    for repeat in range(1, sizes.repeats + 1):
        for case in sorted(want & {"a", "b"}):
            drained = drain(bench, case, topic, sizes.messages, stages[case], 120)
            out.figures.append(figure(case, f"{names[case]} (run {repeat})", drained))
            rates[case].append(drained.progress.steady_rate())
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
        # Medians: one lucky or unlucky run of either must not decide the ratio.
        median_a, median_b = statistics.median(rates["a"]), statistics.median(rates["b"])
        out.targets.append(
            Target(
                "b",
                f"runtime / bare throughput (medians of {sizes.repeats} alternating runs)",
                ratio(median_b, median_a),
                RUNTIME_VS_BARE,
            )
        )


def cpu_bound(bench: Bench, sizes: Sizes, profile_dir: Path | None, out: Results) -> None:
    """(c) CPU-bound work: processes mode should use both cores, threads mode only one.

    Threads and processes alternate ``repeats`` times and the best of each counts; the machine's
    own ceiling (the work alone in 1 and in N processes) is measured first, for context.
    """
    iterations = calibrate(sizes.cpu_ms)
    topic = bench.input(
        f"cpu{iterations}", sizes.cpu_messages, lambda i: f"cpu:{iterations}:{i}".encode()
    )
    cores = os.cpu_count() or 1
    one = cpu_rate(1, iterations, sizes.cpu_messages // 2)
    many = cpu_rate(cores, iterations, sizes.cpu_messages // 2)
    bench.say(f"machine ceiling: {one:,.0f} msg/s in 1 process, {many:,.0f} in {cores}")
    out.figures.append(Figure("c", "machine: burn_cpu alone, 1 process", rate=one))
    out.figures.append(
        Figure(
            "c",
            f"machine: burn_cpu alone, {cores} processes",
            rate=many,
            note=f"{cores} processes / 1 = {many / one:.2f}: the most (c) can show right now",
        )
    )
    runs: dict[str, StartStage] = {
        "threads, default limits": runtime_stage(bench, profile_dir),
        f"processes, workers={cores}": runtime_stage(
            bench, profile_dir, "processes", workers=cores
        ),
    }
    deadline = sizes.cpu_messages * sizes.cpu_ms / 1000 * 2 + 60
    best: dict[str, float] = {}
    for repeat in range(1, sizes.repeats + 1):
        for name, start in runs.items():
            drained = drain(bench, "c", topic, sizes.cpu_messages, start, deadline)
            best[name] = max(best.get(name, 0.0), drained.progress.steady_rate())
            note = f"cpu:{iterations} ~{sizes.cpu_ms:g} ms"
            out.figures.append(figure("c", f"{name} (run {repeat})", drained, note))
    threads, processes = best.values()
    out.targets.append(
        Target(
            "c",
            f"processes (workers={cores}) / threads (best runs)",
            ratio(processes, threads),
            1.6,
        )
    )


def calibrate(target_ms: float) -> int:
    """Iterations of burn_cpu that take about ``target_ms``: the fastest of several short probes,
    since on a shared machine some probes lose the core to other processes."""
    probe = 5_000
    fastest = min(_elapsed(lambda: burn_cpu(probe)) for _ in range(7))
    return max(1, round(target_ms / 1000 / (fastest / probe)))


def _elapsed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def head_of_line(bench: Bench, sizes: Sizes, profile_dir: Path | None, out: Results) -> None:
    """(d) 1% of messages wait 2 s: throughput while they are in flight, against none slow.

    Run for both ways of writing an I/O-bound stage: a coroutine function (the wait is awaited:
    no thread is held) and a plain function (the wait blocks a worker thread). The target is
    judged on the first; the second is reported alongside.
    """
    plain_topic = bench.input("plain", sizes.messages, plain)
    mixed_topic = bench.input("slow", sizes.messages, slow_value)
    kinds = {"coroutine function": True, "plain function on threads": False}
    for kind, coroutine in kinds.items():
        start = runtime_stage(bench, profile_dir, coroutine=coroutine)
        fast = drain(bench, "d-none", plain_topic, sizes.messages, start, 120)
        out.figures.append(figure("d", f"{kind}, none slow", fast))
        slow = drain(bench, "d-slow", mixed_topic, sizes.messages, start, sizes.slow_deadline_s)
        out.figures.append(figure("d", f"{kind}, 1% wait {SLOW_S} s", slow))
        result = paced(
            bench, "d-paced", start, sizes.paced_rate, sizes.paced_s, slow_value, is_slow
        )
        out.figures.append(
            Figure(
                "d",
                f"{kind}, 1% wait {SLOW_S} s, paced {sizes.paced_rate}/s, fast messages",
                latency=result.fast,
                note=pauses_note(result.pauses) if result.pauses else "",
            )
        )
        out.targets.append(
            Target(
                "d",
                f"1%-slow / none-slow throughput, {kind}",
                ratio(slow.progress.steady_rate(), fast.progress.steady_rate()),
                0.80 if coroutine else None,
            )
        )


def memory_footprint(bench: Bench, sizes: Sizes, out: Results) -> None:
    """(e) Peak RSS of `pipeline run` on a small and a huge backlog: memory must not follow it."""
    values = hex_values(sizes.rss_value_bytes)

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
                cut_off=footprint.progress.elapsed_s is None,
                note=f"peak RSS {footprint.peak_rss_mib:.0f} MiB",
            )
        )
    low, high = sizes.rss_backlogs
    out.targets.append(
        Target("e", f"peak RSS {high:,} / {low:,} backlog", ratio(peaks[1], peaks[0]), 0.8, 1.2)
    )
