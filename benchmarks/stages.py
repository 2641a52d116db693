"""Each real stage on the runtime against a bare loop doing its work:
`python -m benchmarks.stages [--quick] [--stage normalize|symbolicate|store] [--bootstrap H]`.

For normalize, symbolicate and store in turn, runs alternate (at least 3 of each) on one
pre-filled input topic: (a) benchmarks.loops.StageLoop, one thread doing consume -> the stage's
own process function (and, for the store, its sink) -> produce -> flush -> commit, and (b) the
stage's StageSpec on the runtime (RuntimeThread, as benchmarks.runtime runs it: the same
process, so both are measured by the same process CPU clock). Reported per stage: the median
events/s of each, runtime / bare (target >= 0.85) and CPU us per event of each while busy (10%
to 90% done; this process, every thread).

Inputs are what the stage sees in production: generated events (pipeline.generator) for
normalize; those events through the normalize stage for symbolicate; those through symbolicate
for the store. They are made by the runtime once, before any measured run, so they carry the
headers the runtime forwards, and symbolicate's on-disk caches are warm for every run alike.

Each run builds its spec anew from the stage factory (cold in-memory caches, a fresh SQLite
database for the store) under a topic prefix of its own (topics.yaml applied, then deleted),
so no run sees another's outputs. Finished work is counted in the stage's output topic, and for
the store as rows in its database (its outcomes are transactional: the topic's offsets count
commit markers too). The inputs are a backlog by design, which the live runtime would slice
off once older than backlog.stale_after_s (300 s): the benchmark sets that to a day, the
slicer's checks still run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.cases import RUNTIME_VS_BARE, ratio
from benchmarks.end_to_end import PROJECTS, bench_settings, send, topics_applied
from benchmarks.kafka_io import Topics, watching
from benchmarks.loops import Running, RuntimeThread, StageLoop
from benchmarks.measure import Bench, Drained, drain_counted
from benchmarks.report import Figure, Results, Target, print_report, print_targets
from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.launch import launch
from pipeline.config import Settings
from pipeline.dev.monitor import StoreReader
from pipeline.dev.setup import upload_dev_artifacts
from pipeline.errors import UserError
from pipeline.observability.logs import configure_logging
from pipeline.runtime.stage import StageSpec
from pipeline.stages.normalize import stage as normalize
from pipeline.stages.registry import resolve_stage
from pipeline.stages.store import stage as store
from pipeline.stages.symbolicate import stage as symbolicate

PARTITIONS = 4
"""Of every stage topic (topics.yaml's default)."""
STALE_AFTER_S = 86_400.0
KINDS = ("bare", "runtime")
Count = Callable[[], int | None]


@dataclass(frozen=True)
class StageCase:
    name: str
    """As `pipeline run` knows it (pipeline.stages.registry)."""
    input_topic: str
    output_topic: str | None
    """Counted to see the work done; None: the rows of the store's database."""


CASES = (
    StageCase("normalize", normalize.INPUT_TOPIC, normalize.OUTPUT_TOPIC),
    StageCase("symbolicate", symbolicate.INPUT_TOPIC, symbolicate.OUTPUT_TOPIC),
    StageCase("store", store.INPUT_TOPIC, None),
)


@dataclass(frozen=True)
class Sizes:
    events: int
    """In each stage's input; every run works all of them off."""
    repeats: int
    """Runs of each kind per stage, alternating; the medians count."""
    deadline_s: float


FULL = Sizes(events=100_000, repeats=3, deadline_s=300.0)
QUICK = Sizes(events=20_000, repeats=3, deadline_s=120.0)


@dataclass
class StageFigures:
    rates: dict[str, list[float]]
    cpu_us: dict[str, list[float]]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.stages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs (a few minutes)")
    parser.add_argument(
        "--stage", choices=[case.name for case in CASES], help="only this stage (default: all)"
    )
    parser.add_argument(
        "--bootstrap", help="use this cluster (default: $KAFKA_BOOTSTRAP_SERVERS, else start one)"
    )
    return parser.parse_args(argv)


def with_prefix(base: Settings, prefix: str, work: Path) -> Settings:
    """``base`` under another topic prefix, with a database of its own."""
    return base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"topic_prefix": prefix}),
            "store": base.store.model_copy(update={"dsn": f"sqlite:///{work / 'events.db'}"}),
        }
    )


def spec_for(
    case: StageCase, settings: Settings, input_settings: Settings, group: str
) -> StageSpec:
    """The stage as its factory builds it from ``settings``, reading the shared input."""
    spec = resolve_stage(case.name, settings)
    return replace(spec, input_topic=input_settings.kafka.topic(case.input_topic), group_id=group)


@contextmanager
def counting(case: StageCase, settings: Settings) -> Iterator[Count]:
    """What the stage has finished: messages in its output topic, or rows it stored."""
    if case.output_topic is not None:
        topic = settings.kafka.topic(case.output_topic)
        with watching(settings.kafka.bootstrap_servers or "", topic, PARTITIONS) as watch:
            yield watch.count
        return
    reader = StoreReader(settings.store.dsn, settings.store.timeout_s)
    try:
        yield lambda: None if (counts := reader.counts()) is None else counts.events
    finally:
        reader.close()


def run_once(
    bench: Bench, base: Settings, case: StageCase, kind: str, sizes: Sizes, work: Path
) -> Drained:
    """One run of ``kind`` (bare or runtime) over the shared input, in a namespace of its own."""
    label = bench.label(f"{case.name}-{kind}")
    settings = with_prefix(base, f"{bench.topics.prefix}{label}.", work / label)
    (work / label).mkdir()
    with topics_applied(settings, bench.bootstrap), counting(case, settings) as count:
        spec = spec_for(case, settings, base, bench.topics.prefix + label)
        start = (
            bare_start(spec, bench.bootstrap) if kind == "bare" else runtime_start(spec, settings)
        )
        return drain_counted(bench, label, count, sizes.events, start, sizes.deadline_s)


def bare_start(spec: StageSpec, bootstrap: str) -> Callable[[], Running]:
    return lambda: StageLoop(spec, bootstrap, spec.group_id).start()


def runtime_start(spec: StageSpec, settings: Settings) -> Callable[[], Running]:
    return lambda: RuntimeThread(spec, settings).start()


def prepare_inputs(bench: Bench, base: Settings, last: StageCase, sizes: Sizes) -> None:
    """Generated events on events.raw; then, up to ``last``'s input, each earlier stage's
    output made by that stage on the runtime (outputs of the base namespace)."""
    stats = send(base, sizes.events, rate=None, seed=1)
    bench.say(f"pre-filled {sizes.events:,} events in {stats.elapsed_s:.1f}s")
    for case in CASES[: CASES.index(last)]:
        with counting(case, base) as count:
            spec = spec_for(case, base, base, bench.topics.prefix + bench.label(f"{case.name}-in"))
            drained = drain_counted(
                bench,
                f"{case.name}-in (the next stage's input)",
                count,
                sizes.events,
                runtime_start(spec, base),
                sizes.deadline_s,
            )
        if drained.progress.elapsed_s is None:
            raise TimeoutError(f"{case.name} made {drained.progress.done:,} of the inputs")


def bench_stage(
    bench: Bench, base: Settings, case: StageCase, sizes: Sizes, work: Path, out: Results
) -> StageFigures:
    """Bare and runtime runs alternating; each run's figure, then the ratio of the medians."""
    found = StageFigures({kind: [] for kind in KINDS}, {kind: [] for kind in KINDS})
    for repeat in range(1, sizes.repeats + 1):
        for kind in KINDS:
            drained = run_once(bench, base, case, kind, sizes, work)
            found.rates[kind].append(drained.progress.steady_rate())
            if (cpu := drained.busy_cpu_us_per_message) is not None:
                found.cpu_us[kind].append(cpu)
            out.figures.append(run_figure(case, kind, repeat, drained))
    bare, runtime = (statistics.median(found.rates[kind]) for kind in KINDS)
    out.targets.append(
        Target(
            case.name,
            f"runtime / bare events/s (medians of {sizes.repeats} alternating runs)",
            ratio(runtime, bare),
            RUNTIME_VS_BARE,
        )
    )
    return found


def run_figure(case: StageCase, kind: str, repeat: int, drained: Drained) -> Figure:
    cpu = drained.busy_cpu_us_per_message
    notes = ["" if cpu is None else f"{cpu:,.0f} us CPU/event busy"]
    if drained.pauses:
        notes.append(", ".join(f"{r}={n:,}" for r, n in sorted(drained.pauses.items())))
    return Figure(
        case.name,
        f"{'bare loop' if kind == 'bare' else 'runtime'} (run {repeat})",
        rate=drained.progress.steady_rate(),
        elapsed_s=drained.progress.elapsed_s,
        cut_off=drained.progress.elapsed_s is None,
        note="; ".join(n for n in notes if n),
    )


def print_summary(console: Console, found: dict[str, StageFigures]) -> None:
    table = Table(title="per stage: medians of the runs")
    columns = ("stage", "bare events/s", "runtime events/s", "runtime / bare")
    for column in (*columns, "bare CPU us/event", "runtime CPU us/event"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, figures in found.items():
        bare, runtime = (statistics.median(figures.rates[kind]) for kind in KINDS)
        share = ratio(runtime, bare)
        table.add_row(
            name,
            f"{bare:,.0f}",
            f"{runtime:,.0f}",
            "n/a" if share is None else f"{share:.2f}",
            *(median_or_na(figures.cpu_us[kind]) for kind in KINDS),
        )
    console.print(table)


def median_or_na(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f}" if values else "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging("warning", "console")
    console = Console(width=None if sys.stdout.isatty() else 200)
    sizes = QUICK if args.quick else FULL
    cases = [case for case in CASES if args.stage in (None, case.name)]
    results, found = Results(), {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as root:
        work = Path(root)
        broker = launch(choose(Probes(os.environ), args.bootstrap), root=work / "broker")
        try:
            console.print(f"broker: {broker.kind} at {broker.bootstrap}; load {os.getloadavg()}")
            prefix = f"bench-stages-{uuid.uuid4().hex[:8]}."
            base = bench_settings(broker.bootstrap, prefix, work)
            base = base.model_copy(
                update={"backlog": base.backlog.model_copy(update={"stale_after_s": STALE_AFTER_S})}
            )
            topics = Topics(broker.bootstrap, prefix, PARTITIONS)
            bench = Bench(topics, lambda line: console.print(f"  {line}", highlight=False))
            with topics_applied(base, broker.bootstrap):
                upload_dev_artifacts(base, PROJECTS)
                prepare_inputs(bench, base, cases[-1], sizes)
                for case in cases:
                    console.print(f"{case.name}: bare loop and runtime, alternating")
                    found[case.name] = bench_stage(bench, base, case, sizes, work, results)
        finally:
            broker.stop()
    console.print(f"total {time.monotonic() - began:.0f}s; load {os.getloadavg()}")
    print_report(console, results.figures, [], title="stages: bare loop vs runtime")
    print_summary(console, found)
    print_targets(console, results.targets)
    return 0 if all(target.passed for target in results.targets) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
