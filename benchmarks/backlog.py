"""Backlog benchmark: `python -m benchmarks.backlog [--quick] [--backlog N] [--rate R] ...`.

Fresh events at a fixed rate, each carrying its send time, through the scripted stage run as
real `pipeline run` processes: (a) with no backlog, (b) while a sliced backlog of 1M messages
is drained by `pipeline run --backlog`. Latency is the output record's CreateTime minus the
send time. Reported: fresh-event p50/p99 in both runs and the time to drain the backlog.
Target (issue 5): fresh-event p99 with the backlog within 2x of the p99 without it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from rich.console import Console
from rich.table import Table

from benchmarks.kafka_io import Topics, prefill
from benchmarks.progress import Latency, latency
from benchmarks.report import Target
from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.launch import launch
from pipeline.adapters.kafka.codec import make_codec
from pipeline.backlog.ledger import LedgerReader
from pipeline.backlog.ledger_state import LedgerState
from pipeline.config import KafkaSettings
from pipeline.errors import UserError
from pipeline.observability.logs import configure_logging

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINE = Path(sys.executable).parent / "pipeline"
STAGE = "tests.support.stages:scripted_stage"
PARTITIONS = 4
VALUE = b"x" * 200
FRESH = b"f:"
STALE_AFTER_S = 2.0


@dataclass(frozen=True)
class Run:
    name: str
    fresh: Latency | None
    sent: int
    """Fresh events counted (with a backlog: those sent before it was drained)."""
    drain_s: float | None = None
    sliced: int = 0
    """Messages the live stage sliced off (the rest it had processed before)."""
    live_behind_pauses: int = 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backlog", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200k backlog, 15 s of events")
    parser.add_argument("--backlog", type=int, help="messages in the backlog (default 1M)")
    parser.add_argument("--rate", type=int, default=200, help="fresh events per second")
    parser.add_argument("--seconds", type=float, help="how long fresh events are sent")
    parser.add_argument("--drain-max-rate", type=float, help="backlog.drain_max_rate (msg/s)")
    parser.add_argument("--drain-nice", type=int, help="backlog.drain_nice (default 10)")
    parser.add_argument("--bootstrap", help="use this cluster instead of starting a broker")
    args = parser.parse_args(argv)
    args.backlog = args.backlog or (200_000 if args.quick else 1_000_000)
    args.seconds = args.seconds or (15.0 if args.quick else 30.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging("warning", "console")
    console = Console(width=None if sys.stdout.isatty() else 160)
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as root:
        broker = launch(choose(Probes(os.environ), args.bootstrap), root=Path(root))
        console.print(f"broker: {broker.kind} at {broker.bootstrap}; load {os.getloadavg()}")
        try:
            runs = [
                without_backlog(broker.bootstrap, Path(root), args, console),
                with_backlog(broker.bootstrap, Path(root), args, console),
            ]
        finally:
            broker.stop()
    target = Target("backlog", "fresh p99 with / without backlog", ratio(runs), high=2.0)
    print_report(console, runs, target)
    return 0 if target.passed else 1


def without_backlog(bootstrap: str, root: Path, args: argparse.Namespace, say: Console) -> Run:
    topics = namespace(bootstrap, "a")
    try:
        with stage(bootstrap, topics.prefix, root / "a-live.log", backlog=False, args=args):
            warm_up(bootstrap, topics.prefix)
            sent = pace(bootstrap, topics.prefix + "test.in", args.rate, args.seconds)
        found = fresh_latencies(bootstrap, topics.prefix + "test.out", until_ms=None)
    finally:
        topics.delete_all()
    say.print(f"  no backlog: {len(found)}/{sent} fresh events, {latency(found)}")
    return Run("no backlog", latency(found), len(found))


def with_backlog(bootstrap: str, root: Path, args: argparse.Namespace, say: Console) -> Run:
    topics = namespace(bootstrap, "b")
    try:
        seconds = prefill(
            bootstrap, topics.prefix + "test.in", PARTITIONS, args.backlog, lambda _: VALUE
        )
        say.print(f"  pre-filled {args.backlog:,} messages in {seconds:.1f}s")
        time.sleep(STALE_AFTER_S)  # the backlog must be older than the live stage's limit
        ledger = LedgerWatch(bootstrap, topics.prefix)
        with stage(bootstrap, topics.prefix, root / "b-live.log", backlog=False, args=args):
            ledger.wait_for_slices(PARTITIONS, timeout_s=120)
            sliced = ledger.open_messages
            say.print(f"  sliced: {sliced:,} messages in the ledger")
            started = time.monotonic()
            drain_log = root / "b-drain.log"
            with stage(bootstrap, topics.prefix, drain_log, backlog=True, args=args):
                wait_for_event(drain_log, "backlog.draining", timeout_s=60)
                pace(bootstrap, topics.prefix + "test.in", args.rate, args.seconds)
                drained_at_ms = ledger.wait_until_drained(timeout_s=args.backlog / 500 + 120)
            drain_s = ledger.drained_monotonic - started
        found = fresh_latencies(bootstrap, topics.prefix + "test.out", until_ms=drained_at_ms)
        pauses = sum(
            1
            for line in drain_log.read_text(errors="replace").splitlines()
            if '"live_behind"' in line and '"runtime.paused"' in line
        )
    finally:
        topics.delete_all()
    say.print(f"  with backlog: {len(found)} fresh events during the drain, {latency(found)}")
    say.print(f"  drained {sliced:,} in {drain_s:.1f}s ({sliced / drain_s:,.0f} msg/s)")
    name = f"{args.backlog:,} backlog"
    return Run(name, latency(found), len(found), drain_s, sliced, pauses)


def namespace(bootstrap: str, run: str) -> Topics:
    topics = Topics(bootstrap, f"bench-bl-{uuid.uuid4().hex[:8]}-{run}-", PARTITIONS)
    topics.create("test.in", "test.out", "test.in.dlq", "pipeline.backlog")
    return topics


@contextmanager
def stage(
    bootstrap: str, prefix: str, log_path: Path, backlog: bool, args: argparse.Namespace
) -> Iterator[subprocess.Popen[bytes]]:
    """The scripted stage as `pipeline run` (the live group, or its drain with ``backlog``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        PIPELINE_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        PIPELINE_KAFKA__TOPIC_PREFIX=prefix,
        PIPELINE_RUNTIME__HTTP_PORT="0",
        PIPELINE_OBSERVABILITY__LOG_FORMAT="json",
        PIPELINE_BACKLOG__STALE_AFTER_S=str(STALE_AFTER_S),
        TEST_STAGE_GROUP=prefix + "live",
    )
    if args.drain_max_rate:
        env["PIPELINE_BACKLOG__DRAIN_MAX_RATE"] = str(args.drain_max_rate)
    if args.drain_nice is not None:
        env["PIPELINE_BACKLOG__DRAIN_NICE"] = str(args.drain_nice)
    command = [str(PIPELINE), "run", STAGE, *(["--backlog"] if backlog else [])]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            command, cwd=log_path.parent, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            yield proc
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited early; see {log_path}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_event(log_path: Path, event: str, timeout_s: float) -> None:
    """Until a process logged ``event`` (JSON lines)."""
    deadline = time.monotonic() + timeout_s
    while f'"event": "{event}"' not in log_path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {event} in {log_path} after {timeout_s}s")
        time.sleep(0.1)


def warm_up(bootstrap: str, prefix: str) -> None:
    """One event per partition through the stage, so group join is not measured."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition in range(PARTITIONS):
        producer.produce(prefix + "test.in", value=VALUE, key=b"warm", partition=partition)
    producer.flush(30)
    consumer = output_consumer(bootstrap, prefix + "test.out")
    deadline, seen = time.monotonic() + 60, 0
    try:
        while seen < PARTITIONS:
            if time.monotonic() > deadline:
                raise TimeoutError("the warm-up events did not come out within 60s")
            seen += sum(1 for m in consumer.consume(100, 0.2) if m.error() is None)
    finally:
        consumer.close()


def pace(bootstrap: str, topic: str, rate: int, seconds: float) -> int:
    """Send ``rate`` events/s for ``seconds``; the key carries the send time in µs."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    count = int(rate * seconds)
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        key = FRESH + f"{i}:{time.time_ns() // 1000}".encode()
        producer.produce(topic, value=VALUE, key=key, partition=i % PARTITIONS)
        producer.poll(0)
    producer.flush(30)
    return count


def output_consumer(bootstrap: str, topic: str) -> Consumer:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-read", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    return consumer


def fresh_latencies(bootstrap: str, topic: str, until_ms: int | None) -> list[float]:
    """Milliseconds from send to output of every fresh event (sent before ``until_ms``)."""
    consumer = output_consumer(bootstrap, topic)
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
        for p in range(PARTITIONS)
    }
    done = {p for p, end in ends.items() if end == 0}
    found: dict[bytes, float] = {}
    deadline = time.monotonic() + 300
    try:
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error() is not None:
                    continue
                partition, offset = msg.partition() or 0, msg.offset() or 0
                if offset + 1 >= ends[partition]:
                    done.add(partition)
                key = msg.key() or b""
                if not key.startswith(FRESH):
                    continue
                sent_ms = int(key.split(b":")[2]) / 1000
                if until_ms is None or sent_ms < until_ms:
                    found.setdefault(key, msg.timestamp()[1] - sent_ms)  # first copy counts
    finally:
        consumer.close()
    return list(found.values())


class LedgerWatch:
    """Follows the ledger: when the slices appear, when the last range is done."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
        self._reader = LedgerReader(
            {"bootstrap.servers": bootstrap},
            kafka.topic("pipeline.backlog"),
            make_codec(kafka),
            LedgerState(),
            timeout_s=30,
        )
        self._reader.catch_up(30)
        self.open_messages = 0
        self.drained_monotonic = 0.0

    def _open_partitions(self) -> int:
        self._reader.poll()
        ranges = self._reader.state.open_ranges()
        self.open_messages = sum(r.remaining for r in ranges)
        return len({r.partition for r in ranges})

    def wait_for_slices(self, partitions: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (found := self._open_partitions()) < partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {found} partitions sliced after {timeout_s}s")
            time.sleep(0.2)

    def wait_until_drained(self, timeout_s: float) -> int:
        """Wall-clock ms when no range was open any more."""
        deadline = time.monotonic() + timeout_s
        while self._open_partitions():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.open_messages:,} messages still open after {timeout_s}s")
            time.sleep(0.2)
        self.drained_monotonic = time.monotonic()
        self._reader.close()
        return time.time_ns() // 1_000_000


def ratio(runs: list[Run]) -> float | None:
    base, loaded = runs[0].fresh, runs[1].fresh
    if base is None or loaded is None or base.p99_ms <= 0:
        return None
    return loaded.p99_ms / base.p99_ms


def print_report(console: Console, runs: list[Run], target: Target) -> None:
    table = Table(title="backlog benchmark: fresh events while a backlog drains")
    for column in ("run", "fresh events", "p50 ms", "p99 ms", "drain s", "drain msg/s", "notes"):
        table.add_column(column, justify="left" if column in ("run", "notes") else "right")
    for run in runs:
        table.add_row(
            run.name,
            f"{run.sent:,}",
            "" if run.fresh is None else f"{run.fresh.p50_ms:.1f}",
            "" if run.fresh is None else f"{run.fresh.p99_ms:.1f}",
            "" if run.drain_s is None else f"{run.drain_s:.1f}",
            "" if run.drain_s is None else f"{run.sliced / run.drain_s:,.0f}",
            f"live_behind pauses {run.live_behind_pauses}" if run.drain_s is not None else "",
        )
    console.print(table)
    console.print(target.line(), style="green" if target.passed else "bold red", highlight=False)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
