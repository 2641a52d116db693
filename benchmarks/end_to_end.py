"""End-to-end benchmark: `python -m benchmarks.end_to_end [--quick] [--bootstrap H]`.

The three stages run as `pipeline run <stage>` subprocesses, one process each as in production,
with their default runtime settings, a SQLite store in a temporary directory and the demo source
maps uploaded, on a broker this benchmark starts (or $KAFKA_BOOTSTRAP_SERVERS / --bootstrap):

(a) saturation: N generated events (Python, JavaScript and Node errors, messages; none invalid)
    pre-filled on events.raw, then the stages start; events/s is the stored count's steady rate
    (10% to 90% of N, so process start and group join are left out);
(b) latency: events sent at half that rate for a fixed time; receive->stored latency of each
    event from its stored row (stored_at_ms - received_at_ms; stored_at_ms is taken just before
    the batch's transaction, so the commit itself is not in it), and per-stage quantiles from
    each stage's /metrics histograms (interpolated inside histogram buckets).
"""

from __future__ import annotations

import argparse
import os
import random
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


@dataclass(frozen=True)
class Sizes:
    events: int
    """Pre-filled for the saturation run."""
    latency_s: float
    """How long events are sent at half the saturation rate."""
    deadline_s: float
    """How long the stages may take to store one run's events."""


FULL = Sizes(events=60_000, latency_s=90.0, deadline_s=180.0)
QUICK = Sizes(events=8_000, latency_s=20.0, deadline_s=60.0)


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


@dataclass(frozen=True)
class StageRun:
    consumed_per_s: float
    """Steady rate at which the stage took events during the saturation run."""
    cpu_us_per_event: float | None


@dataclass(frozen=True)
class Saturation:
    rate: float
    elapsed_s: float | None
    prefill_s: float
    stages: Mapping[str, StageRun]


@dataclass(frozen=True)
class Paced:
    target_rate: float
    sent_rate: float
    latency: Quantiles


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


def send(settings: Settings, count: int, rate: float | None, seed: int) -> SendStats:
    """``count`` generated events to events.raw, received now (at ``rate`` events/s if set)."""
    kafka = settings.kafka
    topic = kafka.topic(RAW_TOPIC)
    config = base_client_config(kafka, kafka.bootstrap_servers or "")
    stats = SendStats()
    sender = EventSender(generator_producer(config, topic, 30.0), make_codec(kafka), topic, stats)
    send_events(
        EventFactory(MIX, random.Random(seed)),
        sender,
        stats,
        count=count,
        limiter=rate_limiter(rate),
        stop=threading.Event(),
        flush_timeout_s=60.0,
    )
    if not stats.all_acknowledged or stats.records != count:
        raise RuntimeError(f"sent {stats.records} of {count}: {stats.first_error}")
    return stats


def saturation(pipeline: Pipeline, sizes: Sizes, say: Console) -> Saturation:
    """Pre-fill, start the stages, wait until every event is stored."""
    prefill = send(pipeline.settings, sizes.events, rate=None, seed=1)
    say.print(f"  pre-filled {sizes.events:,} events in {prefill.elapsed_s:.1f}s")
    started = time.monotonic()
    pipeline.start()
    stages: dict[str, list[StageSample]] = {name: [] for name in STAGES}
    cpu: dict[str, list[float]] = {name: [] for name in STAGES}
    stored: list[Sample] = []
    while not stored or stored[-1][1] < sizes.events:
        if time.monotonic() - started > sizes.deadline_s:
            raise TimeoutError(f"only {stored[-1][1]:,} of {sizes.events:,} stored in time")
        used = pipeline.cpu_s()
        for name, sample in pipeline.scrape().items():
            if sample is not None:
                stages[name].append(sample)
                cpu[name].append(used[name])
        stored.append((time.monotonic(), pipeline.stored()))
        time.sleep(SAMPLE_EVERY_S)
    progress = Progress(started, sizes.events, tuple(stored))
    result = Saturation(
        progress.steady_rate(),
        progress.elapsed_s,
        prefill.elapsed_s,
        {name: stage_run(started, sizes.events, stages[name], cpu[name]) for name in STAGES},
    )
    say.print(f"  stored {sizes.events:,} events: {result.rate:,.0f} events/s steady")
    return result


def stage_run(
    started: float, total: int, samples: Sequence[StageSample], cpu_s: Sequence[float]
) -> StageRun:
    """Rate and CPU cost of one stage while busy: from 10% to 90% of ``total`` consumed."""
    counts = [int(s.consumed) for s in samples]
    busy = tuple((s.at, n) for s, n in zip(samples, counts, strict=True))
    rate = Progress(started, total, busy).steady_rate()
    first = next((i for i, n in enumerate(counts) if n >= 0.1 * total), None)
    last = next((i for i, n in enumerate(counts) if n >= 0.9 * total), len(counts) - 1)
    if first is None or counts[last] <= counts[first]:
        return StageRun(rate, None)
    return StageRun(rate, (cpu_s[last] - cpu_s[first]) / (counts[last] - counts[first]) * 1e6)


def paced(
    pipeline: Pipeline, sizes: Sizes, rate: float, already: int, say: Console
) -> tuple[Paced, dict[str, StageSample | None], dict[str, StageSample | None]]:
    """Events at ``rate`` for ``sizes.latency_s``; latency from the rows they were stored as."""
    before = pipeline.scrape()
    phase_start_ms = time.time_ns() // 1_000_000
    count = max(1, round(rate * sizes.latency_s))
    say.print(f"  sending {count:,} events at {rate:,.0f}/s for {sizes.latency_s:.0f}s")
    stats = send(pipeline.settings, count, rate=rate, seed=2)
    pipeline.wait_stored(already + count, time.monotonic(), sizes.deadline_s)
    after = pipeline.scrape()
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
    return Paced(rate, stats.rate, quantiles(latencies)), before, after


def quantiles(values_ms: Sequence[float]) -> Quantiles:
    cuts = statistics.quantiles(values_ms, n=100, method="inclusive")
    return Quantiles(len(values_ms), cuts[49], cuts[94], cuts[98], max(values_ms))


def histogram_p50_p99(buckets: Buckets) -> tuple[float | None, float | None]:
    return histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)


def stage_latency(before: StageSample | None, after: StageSample | None) -> StageLatency:
    """Quantiles of what the stage finished between two scrapes."""
    if after is None:
        return StageLatency((None, None), (None, None))
    earlier = before.end_to_end if before is not None else {}
    processing = bucket_increase(after.processing, before.processing if before else None)
    cohorts = [bucket_increase(b, earlier.get(c)) for c, b in after.end_to_end.items()]
    return StageLatency(histogram_p50_p99(processing), histogram_p50_p99(merge_buckets(cohorts)))


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:,.1f}"


def print_report(
    console: Console, sat: Saturation, paced_run: Paced, latencies: Mapping[str, StageLatency]
) -> None:
    table = Table(title="end to end: events.raw -> normalize -> symbolicate -> store (SQLite)")
    for column in ("run", "events/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "notes"):
        table.add_column(column, justify="left" if column in ("run", "notes") else "right")
    elapsed = "cut off" if sat.elapsed_s is None else f"{sat.elapsed_s:.1f}s to the last"
    notes = f"steady 10-90%; {elapsed}; pre-fill took {sat.prefill_s:.1f}s"
    table.add_row("saturation", f"{sat.rate:,.0f}", "", "", "", "", notes)
    q = paced_run.latency
    table.add_row(
        "half rate",
        f"{paced_run.sent_rate:,.0f}",
        f"{q.p50_ms:,.0f}",
        f"{q.p95_ms:,.0f}",
        f"{q.p99_ms:,.0f}",
        f"{q.max_ms:,.0f}",
        f"target {paced_run.target_rate:,.0f}/s; receive->stored of {q.count:,} events (rows)",
    )
    console.print(table)
    per_stage = Table(title="per stage (processing and receive->done: /metrics, half-rate run)")
    for column in (
        "stage",
        "events/s at saturation",
        "CPU us/event",
        "processing p50/p99 ms",
        "receive->done p50/p99 ms",
    ):
        per_stage.add_column(column, justify="left" if column == "stage" else "right")
    for name, run in sat.stages.items():
        latency = latencies[name]
        per_stage.add_row(
            name,
            f"{run.consumed_per_s:,.0f}",
            "n/a" if run.cpu_us_per_event is None else f"{run.cpu_us_per_event:,.0f}",
            " / ".join(ms(v) for v in latency.processing),
            " / ".join(ms(v) for v in latency.received_to_done),
        )
    console.print(per_stage)
    console.print(
        "per-stage quantiles are interpolated inside the runtime's histogram buckets; CPU is per "
        "stage process while it was busy (10-90% of the saturation run)",
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
    return 0 if all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
