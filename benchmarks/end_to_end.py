"""End-to-end benchmark: `python -m benchmarks.end_to_end [--quick] [--bootstrap H]`.

The three stages run as `pipeline run <stage>` subprocesses, one process each as in production,
with their default runtime settings, a SQLite store in a temporary directory and the demo source
maps uploaded, on a broker this benchmark starts (or $KAFKA_BOOTSTRAP_SERVERS / --bootstrap):

(a) saturation: the stages start on an empty events.raw and the benchmark waits until each is
    ready (its /readyz answers with every partition of its input assigned); then N generated
    events (Python, JavaScript and Node errors, messages; none invalid; generated beforehand,
    so only encoding and producing them runs alongside the stages) are sent as a backlog, and
    events/s = N / (the last event stored - the first sent). The three stages share the
    machine's cores, so what limits the pipeline is their summed CPU per event: as long as the
    backlog keeps the cores busy, finishing N through all three takes N x (summed CPU) / cores
    whichever stage happens to run when, so this rate is the one they sustain running
    concurrently. The steady rate of the stored count (10% to 90%) was not: the store mostly
    catches up after the other stages have finished, alone on the cores, and a pace of half
    that rate could not be sustained. Process start and group join are left out by waiting
    for readiness, not by cutting a share of the events. Where a tail runs one stage alone on
    fewer cores than there are, the figure errs low, the safe side for (b). CPU us/event per
    stage (/proc/<pid>/stat) is over the same period and sums to the total (target <= 220);
(b) latency: events sent at half that rate for a fixed time; receive->stored latency of each
    event from its stored row (stored_at_ms - received_at_ms; stored_at_ms is taken just before
    the batch's transaction, so the commit itself is not in it; target p99 <= 250 ms), and
    per-stage quantiles from each stage's /metrics histograms (interpolated inside histogram
    buckets).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from benchmarks.progress import Progress, Sample
from benchmarks.report import Target, print_targets
from pipeline.adapters.db import open_store
from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.launch import launch
from pipeline.adapters.kafka.client_config import base_client_config
from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import KafkaSettings, ObservabilitySettings, Settings
from pipeline.dev.monitor import StoreReader
from pipeline.dev.processes import StageProcess, start_stage, stop_stages
from pipeline.dev.quantiles import Buckets, bucket_increase, histogram_quantile, merge_buckets
from pipeline.dev.scrape import StageSample, scrape
from pipeline.dev.setup import apply_dev_topics, upload_dev_artifacts
from pipeline.errors import UserError
from pipeline.generator import (
    RAW_TOPIC,
    EventFactory,
    EventSender,
    GeneratedRecord,
    Mix,
    SendStats,
    generator_producer,
    send_events,
)
from pipeline.observability.logs import configure_logging
from pipeline.rate_limit import rate_limiter
from pipeline.stages.store.settings import StoreSettings
from pipeline.stages.symbolicate.settings import SymbolicateSettings

STAGES = ("normalize", "symbolicate", "store")
PROJECTS = 3
MIX = Mix(projects=PROJECTS, invalid_ratio=0.0, duplicate_ratio=0.0)
SAMPLE_EVERY_S = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PARTITIONS = 4
"""Of each stage's input (topics.yaml's default): a lone stage is ready once it has them all."""
ASSIGNED = re.compile(r"(\d+) partitions assigned")
P99_TARGET_MS = 250.0
CPU_TARGET_US = 220.0


@dataclass(frozen=True)
class Sizes:
    events: int
    """Pre-filled for the saturation run."""
    warmup_s: float
    """Events at half the saturation rate first, not measured: a freshly started JVM broker's
    JIT compiler took 0.3-0.5 of a core for the first 10-15 s of a new traffic pattern, and
    on two cores that, not the stages, set the p99 of those seconds."""
    latency_s: float
    """How long events are sent at half the saturation rate, measured."""
    deadline_s: float
    """How long the stages may take to store one run's events."""


FULL = Sizes(events=60_000, warmup_s=20.0, latency_s=90.0, deadline_s=180.0)
QUICK = Sizes(events=15_000, warmup_s=5.0, latency_s=20.0, deadline_s=60.0)


@dataclass(frozen=True)
class Quantiles:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class StageLatency:
    processing: tuple[float | None, float | None]
    """p50, p99 seconds from taking an event to finishing it, during the latency run."""
    received_to_done: tuple[float | None, float | None]
    """p50, p99 seconds from the edge receiving an event to this stage finishing it."""
    pauses: dict[str, float]
    """Partition pauses by reason during the latency run: each costs its partition a fetch."""


@dataclass(frozen=True)
class StageRun:
    consumed_per_s: float
    """Steady rate at which the stage took events during the saturation run."""
    cpu_us_per_event: float
    """CPU of the stage process from the first event sent to the last stored, per event."""


@dataclass(frozen=True)
class Saturation:
    rate: float
    elapsed_s: float | None
    """First event sent to the last stored."""
    send_s: float
    """Sending the backlog (while the stages ran)."""
    stages: Mapping[str, StageRun]

    @property
    def cpu_us_per_event(self) -> float:
        return sum(run.cpu_us_per_event for run in self.stages.values())


@dataclass(frozen=True)
class Paced:
    target_rate: float
    sent_rate: float
    latency: Quantiles
    warmup: Quantiles
    """The same rate's first seconds, reported but not held to the target."""


class Pipeline:
    """The running stage processes, their /metrics, and the store's event count."""

    def __init__(self, settings: Settings, env: Mapping[str, str], logs_dir: Path) -> None:
        self.settings = settings
        self._reader = StoreReader(settings.store.dsn, settings.store.timeout_s)
        self._reader.counts()  # creates the database before the store stage starts
        self._env = env
        self._logs_dir = logs_dir
        self._http = httpx.Client(timeout=2.0)
        self.stages: list[StageProcess] = []

    def start(self) -> None:
        self.stages = [start_stage(name, self._logs_dir, self._env) for name in STAGES]

    def stop(self, grace_s: float = 30.0) -> dict[str, int]:
        codes = stop_stages(self.stages, grace_s)
        self._http.close()
        self._reader.close()
        return codes

    def stored(self) -> int:
        counts = self._reader.counts()
        return 0 if counts is None else counts.events

    def scrape(self) -> dict[str, StageSample | None]:
        self._check_alive()
        return {s.name: scrape(self._http, s.port, time.monotonic()) for s in self.stages}

    def cpu_s(self) -> dict[str, float]:
        """CPU time (user + system) each stage process used so far, from /proc/<pid>/stat."""
        used = {}
        for stage in self.stages:
            fields = Path(f"/proc/{stage.pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[stage.name] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return used

    def wait_ready(self, timeout_s: float) -> None:
        """Until every stage answers /readyz with all partitions of its input assigned, so the
        saturation run starts with the stages, not with their start-up and group join."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self.stages)
        while waiting:
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready in {timeout_s:.0f}s: {[s.name for s in waiting]}")
            waiting = [s for s in waiting if not self._ready(s)]
            time.sleep(0.1)

    def _ready(self, stage: StageProcess) -> bool:
        try:
            response = self._http.get(f"http://127.0.0.1:{stage.port}/readyz")
        except httpx.HTTPError:
            return False
        # The body is "ok: <n> partitions assigned" (pipeline.runtime.engine.StageRuntime.ready).
        found = ASSIGNED.search(response.text)
        return response.status_code == 200 and found is not None and int(found[1]) >= PARTITIONS

    def wait_stored(self, total: int, started: float, deadline_s: float) -> None:
        """Until ``total`` events are stored; TimeoutError at the deadline."""
        while True:
            self._check_alive()
            now, count = time.monotonic(), self.stored()
            if count >= total:
                return
            if now - started > deadline_s:
                raise TimeoutError(
                    f"only {count:,} of {total:,} events stored in {deadline_s:.0f}s"
                )
            time.sleep(SAMPLE_EVERY_S)

    def _check_alive(self) -> None:
        for stage in self.stages:
            if stage.exit_code is not None:
                tail = stage.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{stage.name} exited with {stage.exit_code}:\n{tail}")


def bench_settings(bootstrap: str, prefix: str, work: Path) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
        symbolicate=SymbolicateSettings(artifacts_dir=work / "artifacts", cache_dir=work / "cache"),
        store=StoreSettings(dsn=f"sqlite:///{work / 'events.db'}"),
        observability=ObservabilitySettings(log_level="warning", log_format="json"),
    )


def stage_env(settings: Settings) -> dict[str, str]:
    """The stages' settings as PIPELINE_* variables: they beat any pipeline.yaml in the cwd."""
    kafka, symbolicate = settings.kafka, settings.symbolicate
    return {
        **os.environ,
        "PIPELINE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers or "",
        "PIPELINE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "PIPELINE_SYMBOLICATE__ARTIFACTS_DIR": str(symbolicate.artifacts_dir),
        "PIPELINE_SYMBOLICATE__CACHE_DIR": str(symbolicate.cache_dir),
        "PIPELINE_STORE__DSN": settings.store.dsn,
        "PIPELINE_OBSERVABILITY__LOG_LEVEL": settings.observability.log_level,
        "PIPELINE_OBSERVABILITY__LOG_FORMAT": settings.observability.log_format,
    }


def event_sender(settings: Settings, stats: SendStats) -> EventSender:
    """Sends generated events to events.raw as the load generator does."""
    kafka = settings.kafka
    topic = kafka.topic(RAW_TOPIC)
    config = base_client_config(kafka, kafka.bootstrap_servers or "")
    return EventSender(generator_producer(config, topic, 30.0), make_codec(kafka), topic, stats)


def send(settings: Settings, count: int, rate: float | None, seed: int) -> SendStats:
    """``count`` generated events to events.raw, received now (at ``rate`` events/s if set)."""
    stats = SendStats()
    send_events(
        EventFactory(MIX, random.Random(seed)),
        event_sender(settings, stats),
        stats,
        count=count,
        limiter=rate_limiter(rate),
        stop=threading.Event(),
        flush_timeout_s=60.0,
    )
    return checked(stats, count)


def checked(stats: SendStats, count: int) -> SendStats:
    if not stats.all_acknowledged or stats.records != count:
        raise RuntimeError(f"sent {stats.records} of {count}: {stats.first_error}")
    return stats


def generated(count: int, seed: int) -> list[GeneratedRecord]:
    """``count`` events made before they are needed, so making them does not compete with the
    stages for the cores while they run."""
    factory, now_ms = EventFactory(MIX, random.Random(seed)), time.time_ns() // 1_000_000
    records: list[GeneratedRecord] = []
    while len(records) < count:
        records.extend(factory.next(now_ms))
    return records[:count]


def send_backlog(sender: EventSender, stats: SendStats, records: Sequence[GeneratedRecord]) -> None:
    """As fast as the producer takes them: only encoding and producing is left to do."""
    started = time.monotonic()
    for record in records:
        sender.send(record)
    sender.flush(60.0)
    stats.elapsed_s = time.monotonic() - started
    checked(stats, len(records))


def saturation(pipeline: Pipeline, sizes: Sizes, say: Console) -> Saturation:
    """Start the stages, wait until all are ready, send the backlog, wait until it is stored."""
    records = generated(sizes.events, seed=1)
    stats = SendStats()
    sender = event_sender(pipeline.settings, stats)
    pipeline.start()
    pipeline.wait_ready(sizes.deadline_s)
    say.print(f"  stages ready; sending {sizes.events:,} events as a backlog")
    cpu_before = pipeline.cpu_s()
    started = time.monotonic()
    send_backlog(sender, stats, records)
    say.print(f"  sent {sizes.events:,} events in {stats.elapsed_s:.1f}s")
    stages: dict[str, list[StageSample]] = {name: [] for name in STAGES}
    stored: list[Sample] = []
    while not stored or stored[-1][1] < sizes.events:
        if time.monotonic() - started > sizes.deadline_s:
            raise TimeoutError(f"only {stored[-1][1]:,} of {sizes.events:,} stored in time")
        for name, sample in pipeline.scrape().items():
            if sample is not None:
                stages[name].append(sample)
        stored.append((time.monotonic(), pipeline.stored()))
        time.sleep(SAMPLE_EVERY_S)
    cpu_after = pipeline.cpu_s()
    progress = Progress(started, sizes.events, tuple(stored))
    elapsed = progress.elapsed_s
    result = Saturation(
        sizes.events / elapsed if elapsed else 0.0,
        elapsed,
        stats.elapsed_s,
        {
            name: StageRun(
                stage_rate(started, sizes.events, stages[name]),
                (cpu_after[name] - cpu_before[name]) / sizes.events * 1e6,
            )
            for name in STAGES
        },
    )
    say.print(f"  stored {sizes.events:,} events: {result.rate:,.0f} events/s, first sent to last")
    return result


def stage_rate(started: float, total: int, samples: Sequence[StageSample]) -> float:
    """Steady rate at which one stage took events (10% to 90% of ``total`` consumed)."""
    busy = tuple((s.at, int(s.consumed)) for s in samples)
    return Progress(started, total, busy).steady_rate()


def paced(
    pipeline: Pipeline, sizes: Sizes, rate: float, already: int, say: Console
) -> tuple[Paced, dict[str, StageSample | None], dict[str, StageSample | None]]:
    """A warm-up at ``rate``, then events at ``rate`` for ``sizes.latency_s``, measured."""
    warmup, _ = paced_phase(pipeline, sizes, rate, sizes.warmup_s, already, "warm-up", 2, say)
    before = pipeline.scrape()
    already += warmup.count
    latency, sent_rate = paced_phase(pipeline, sizes, rate, sizes.latency_s, already, "", 3, say)
    return Paced(rate, sent_rate, latency, warmup), before, pipeline.scrape()


def paced_phase(
    pipeline: Pipeline,
    sizes: Sizes,
    rate: float,
    seconds: float,
    already: int,
    label: str,
    seed: int,
    say: Console,
) -> tuple[Quantiles, float]:
    """Receive->stored quantiles of events sent at ``rate`` for ``seconds``, from the rows
    they were stored as; and the rate they were sent at."""
    phase_start_ms = time.time_ns() // 1_000_000
    count = max(1, round(rate * seconds))
    say.print(f"  {label + ': ' if label else ''}sending {count:,} events at {rate:,.0f}/s "
              f"for {seconds:.0f}s")  # fmt: skip
    stats = send(pipeline.settings, count, rate=rate, seed=seed)
    pipeline.wait_stored(already + count, time.monotonic(), sizes.deadline_s)
    store = open_store(pipeline.settings.store.dsn)
    try:
        rows = store.list_events(limit=already + count + 1)
    finally:
        store.close()
    latencies = [
        r.stored_at_ms - r.received_at_ms for r in rows if r.received_at_ms >= phase_start_ms
    ]
    if len(latencies) != count:
        raise RuntimeError(f"{len(latencies)} stored rows of the {count} paced events")
    return quantiles(latencies), stats.rate


def quantiles(values_ms: Sequence[float]) -> Quantiles:
    cuts = statistics.quantiles(values_ms, n=100, method="inclusive")
    return Quantiles(len(values_ms), cuts[49], cuts[94], cuts[98], max(values_ms))


def histogram_p50_p99(buckets: Buckets) -> tuple[float | None, float | None]:
    return histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)


def stage_latency(before: StageSample | None, after: StageSample | None) -> StageLatency:
    """Quantiles of what the stage finished between two scrapes."""
    if after is None:
        return StageLatency((None, None), (None, None), {})
    earlier = before.end_to_end if before is not None else {}
    processing = bucket_increase(after.processing, before.processing if before else None)
    cohorts = [bucket_increase(b, earlier.get(c)) for c, b in after.end_to_end.items()]
    pauses = {
        reason: n - (before.pauses.get(reason, 0.0) if before else 0.0)
        for reason, n in after.pauses.items()
    }
    return StageLatency(
        histogram_p50_p99(processing),
        histogram_p50_p99(merge_buckets(cohorts)),
        {reason: n for reason, n in pauses.items() if n},
    )


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:,.1f}"


def latency_row(table: Table, run: str, rate: float, q: Quantiles, note: str) -> None:
    cells = (q.p50_ms, q.p95_ms, q.p99_ms, q.max_ms)
    table.add_row(run, f"{rate:,.0f}", *(f"{v:,.0f}" for v in cells), note)


def print_report(
    console: Console, sat: Saturation, paced_run: Paced, latencies: Mapping[str, StageLatency]
) -> None:
    table = Table(title="end to end: events.raw -> normalize -> symbolicate -> store (SQLite)")
    for column in ("run", "events/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "notes"):
        table.add_column(column, justify="left" if column in ("run", "notes") else "right")
    elapsed = "cut off" if sat.elapsed_s is None else f"{sat.elapsed_s:.1f}s to the last"
    notes = f"N / first sent to last stored; {elapsed}; sending took {sat.send_s:.1f}s"
    table.add_row("saturation", f"{sat.rate:,.0f}", "", "", "", "", notes)
    w, q = paced_run.warmup, paced_run.latency
    note = f"the same rate's first {w.count:,} events, before the half-rate run; no target"
    latency_row(table, "warm-up", paced_run.target_rate, w, note)
    note = f"target {paced_run.target_rate:,.0f}/s; receive->stored of {q.count:,} events (rows)"
    latency_row(table, "half rate", paced_run.sent_rate, q, note)
    console.print(table)
    per_stage = Table(title="per stage (processing and receive->done: /metrics, half-rate run)")
    for column in (
        "stage",
        "events/s at saturation",
        "CPU us/event",
        "processing p50/p99 ms",
        "receive->done p50/p99 ms",
        "pauses (half rate)",
    ):
        per_stage.add_column(column, justify="left" if column == "stage" else "right")
    for name, run in sat.stages.items():
        latency = latencies[name]
        per_stage.add_row(
            name,
            f"{run.consumed_per_s:,.0f}",
            f"{run.cpu_us_per_event:,.0f}",
            " / ".join(ms(v) for v in latency.processing),
            " / ".join(ms(v) for v in latency.received_to_done),
            ", ".join(f"{r} {n:,.0f}" for r, n in sorted(latency.pauses.items())) or "none",
        )
    per_stage.add_row("all three", "", f"{sat.cpu_us_per_event:,.0f}", "", "", "")
    console.print(per_stage)
    console.print(
        "per-stage quantiles are interpolated inside the runtime's histogram buckets; CPU is per "
        "stage process from the first event sent to the last stored in the saturation run",
        highlight=False,
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.end_to_end",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs (under 2 minutes)")
    parser.add_argument(
        "--bootstrap", help="use this cluster (default: $KAFKA_BOOTSTRAP_SERVERS, else start one)"
    )
    return parser.parse_args(argv)


@contextmanager
def topics_applied(settings: Settings, bootstrap: str) -> Iterator[None]:
    """topics.yaml under the settings' prefix, deleted afterwards (the cluster may be shared)."""
    apply_dev_topics(settings, bootstrap)
    try:
        yield
    finally:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        prefix = settings.kafka.topic_prefix
        ours = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefix)]
        if ours:
            for future in admin.delete_topics(ours, operation_timeout=30).values():
                future.result(30)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging("warning", "console")
    console = Console(width=None if sys.stdout.isatty() else 160)
    sizes = QUICK if args.quick else FULL
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as root:
        work = Path(root)
        broker = launch(choose(Probes(os.environ), args.bootstrap), root=work / "broker")
        try:
            console.print(f"broker: {broker.kind} at {broker.bootstrap}; load {os.getloadavg()}")
            settings = bench_settings(broker.bootstrap, f"bench-e2e-{uuid.uuid4().hex[:8]}.", work)
            with topics_applied(settings, broker.bootstrap):
                upload_dev_artifacts(settings, PROJECTS)
                pipeline = Pipeline(settings, stage_env(settings), work / "logs")
                try:
                    console.print("(a) saturation")
                    sat = saturation(pipeline, sizes, console)
                    console.print("(b) latency at half the saturation rate")
                    run, before, after = paced(pipeline, sizes, sat.rate / 2, sizes.events, console)
                finally:
                    codes = pipeline.stop()
        finally:
            broker.stop()
    latencies = {name: stage_latency(before[name], after[name]) for name in STAGES}
    console.print(
        f"total {time.monotonic() - began:.0f}s; load {os.getloadavg()}; stage exit codes {codes}"
    )
    print_report(console, sat, run, latencies)
    found = targets(sat, run)
    print_targets(console, found)
    stopped_cleanly = all(code == 0 for code in codes.values())
    return 0 if stopped_cleanly and all(target.passed for target in found) else 1


def targets(sat: Saturation, paced_run: Paced) -> list[Target]:
    """p99 at half the saturation rate, and CPU per event: per stage (no target) and in all."""
    found = [
        Target(
            "latency",
            "p99 receive->stored ms at half the saturation rate",
            paced_run.latency.p99_ms,
            high=P99_TARGET_MS,
        )
    ]
    found.extend(
        Target("cpu", f"{name} CPU us/event", run.cpu_us_per_event)
        for name, run in sat.stages.items()
    )
    found.append(
        Target("cpu", "CPU us/event, three stages summed", sat.cpu_us_per_event, high=CPU_TARGET_US)
    )
    return found


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
