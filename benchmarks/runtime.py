"""Stage-runtime benchmarks: `python -m benchmarks.runtime [--quick] [--only a,b] [--bootstrap H]`.

(a) bare consume->produce loop, (b) the runtime with default limits (target >= 85% of a, as
the ratio of the medians of at least 3 alternating runs of each), (c) CPU-bound work in
processes vs threads mode (>= 1.6x), (d) 1% slow messages vs none (>= 80%), (e) peak RSS on a
10k vs a 1M backlog (within 20%). Every case runs on one broker in one run, so the ratios
compare like with like on a noisy machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console

from benchmarks.cases import baseline_and_runtime, cpu_bound, head_of_line, memory_footprint
from benchmarks.kafka_io import Topics
from benchmarks.measure import Bench
from benchmarks.report import Results, print_report
from benchmarks.workload import FULL, QUICK
from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.launch import launch
from pipeline.errors import UserError
from pipeline.observability.logs import configure_logging

CASES = ("a", "b", "c", "d", "e")
PARTITIONS = 4


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runtime", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about 2 minutes)")
    parser.add_argument("--only", default=",".join(CASES), help="cases to run, e.g. a,b")
    parser.add_argument(
        "--bootstrap",
        help="use this cluster (default: $KAFKA_BOOTSTRAP_SERVERS, else start a broker)",
    )
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of each runtime loop thread here"
    )
    args = parser.parse_args(argv)
    args.cases = {c.strip() for c in args.only.split(",") if c.strip()}
    if unknown := args.cases - set(CASES):
        parser.error(f"unknown cases {sorted(unknown)}: choose from {','.join(CASES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging("warning", "console")
    console = Console(width=None if sys.stdout.isatty() else 200)
    sizes = QUICK if args.quick else FULL
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as root:
        broker = launch(choose(Probes(os.environ), args.bootstrap), root=Path(root))
        console.print(f"broker: {broker.kind} at {broker.bootstrap}; load {os.getloadavg()}")
        topics = Topics(broker.bootstrap, f"bench-{uuid.uuid4().hex[:8]}.", PARTITIONS)
        bench = Bench(topics, lambda line: console.print(f"  {line}", highlight=False))
        results = Results()
        started = time.monotonic()
        try:
            if args.cases & {"a", "b"}:
                baseline_and_runtime(bench, sizes, args.cases, args.profile, results)
            if "c" in args.cases:
                cpu_bound(bench, sizes, args.profile, results)
            if "d" in args.cases:
                head_of_line(bench, sizes, args.profile, results)
            if "e" in args.cases:
                memory_footprint(bench, sizes, results)
        finally:
            topics.delete_all()
            broker.stop()
    console.print(f"total {time.monotonic() - started:.0f}s; load {os.getloadavg()}")
    print_report(console, results.figures, results.targets)
    return 0 if all(target.passed for target in results.targets) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
