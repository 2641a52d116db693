"""The edge under HTTP load on loopback, driven by wrk.

1. Throughput: 2 KB error envelopes POSTed to a real `pipeline run edge` (each answered only after
   the broker acknowledged), alternating with a minimal ASGI app served by the same uvicorn
   options that reads the body and answers 200 (the ceiling). The ratio of the medians counts.
2. Flood: the broker frozen (SIGSTOP), many more connections than the edge admits: every request
   must be answered (200, or 503/429 with Retry-After), none may hang, and the edge's RSS must stay
   flat. Then the broker resumes and the edge accepts again.

    python -m benchmarks.edge [--quick]     # wrk must be installed (apt-get install wrk)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from rich.console import Console

from benchmarks.end_to_end import topics_applied
from benchmarks.progress import Latency
from benchmarks.report import Figure, Target, print_report
from benchmarks.wrk import EVENT_ID, Load, run_wrk, write_script, wrk_binary
from pipeline.adapters.kafka.broker.choice import Probes, choose
from pipeline.adapters.kafka.broker.kraft import KraftBroker, free_ports
from pipeline.adapters.kafka.broker.launch import Broker, launch
from pipeline.config import KafkaSettings, Settings
from pipeline.errors import UserError
from pipeline.observability.logs import configure_logging

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT, KEY = 1, "0123456789abcdef0123456789abcdef"
MAX_IN_FLIGHT = 256
ACK_TIMEOUT_S = 2.0
THROUGHPUT_CONNECTIONS = 64
"""Below MAX_IN_FLIGHT; 200 gave both servers lower rates on 2 cores (more context switching)."""


@dataclass(frozen=True)
class Sizes:
    run_s: int
    pairs: int
    flood_s: int


FULL = Sizes(run_s=10, pairs=3, flood_s=60)
QUICK = Sizes(run_s=4, pairs=1, flood_s=10)


def envelope_body() -> str:
    """An SDK-like error envelope of about 2 KB; its EVENT_ID is replaced per request by wrk."""
    frames = [
        {
            "filename": f"app/services/module_{n}.py",
            "function": f"handle_step_{n}",
            "lineno": 40 + n,
            "in_app": True,
            "context_line": f"    result = process(item, retries={n})",
        }
        for n in range(11)
    ]
    event = {
        "event_id": EVENT_ID,
        "platform": "python",
        "level": "error",
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
        "exception": {
            "values": [
                {"type": "ValueError", "value": "bad input", "stacktrace": {"frames": frames}}
            ]
        },
    }
    payload = json.dumps(event)
    header = json.dumps({"event_id": EVENT_ID, "sent_at": "2026-12-06T00:00:00Z"})
    item = json.dumps({"type": "event", "length": len(payload)})
    return f"{header}\n{item}\n{payload}\n"


class Server:
    """A server subprocess on loopback, ready once ``health_path`` answers."""

    def __init__(self, command: list[str], port: int, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                command, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self, health_path: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.url} exited with {self._process.returncode}")
            try:
                if httpx.get(self.url + health_path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.url} did not answer in {timeout_s}s")

    def stop(self) -> None:
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def edge_config(work: Path, bootstrap: str, prefix: str, port: int) -> Path:
    config = {
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix},
        "edge": {
            "host": "127.0.0.1",
            "port": port,
            "projects": {PROJECT: [KEY]},
            "max_in_flight": MAX_IN_FLIGHT,
            "ack_timeout_s": ACK_TIMEOUT_S,
        },
        "observability": {"log_level": "error", "log_format": "json"},
    }
    path = work / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


@contextmanager
def rss_samples(pid: int, every_s: float = 1.0) -> Iterator[list[float]]:
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every_s):
            samples.append(rss_mib(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


@contextmanager
def frozen(broker: KraftBroker) -> Iterator[None]:
    """The broker's JVM stopped (SIGSTOP): connections stay open, nothing is answered."""
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.pid, signal.SIGCONT)


def accepts_again(edge: Server, body: bytes, timeout_s: float = 60.0) -> bool:
    url = f"{edge.url}/api/{PROJECT}/envelope/?sentry_key={KEY}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fresh = body.replace(EVENT_ID.encode(), uuid.uuid4().hex.encode())
        try:
            if httpx.post(url, content=fresh, timeout=ACK_TIMEOUT_S + 5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def figure(case: str, run: str, load: Load, note: str = "") -> Figure:
    return Figure(
        case=case,
        run=run,
        rate=load.rate,
        latency=Latency(load.requests, load.p50_ms, load.p99_ms),
        note=note or f"statuses {dict(sorted(load.statuses.items()))}, no answer {load.errors}",
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.edge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short runs and a 10 s flood")
    parser.add_argument(
        "--bootstrap", help="an existing broker (the flood phase needs the self-started one)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging("warning", "console")
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        wrk_binary()
    except UserError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as root:
        work = Path(root)
        # The jar broker, not Docker: the flood freezes its JVM with SIGSTOP.
        probes = Probes(os.environ, docker_reachable=lambda: False)
        broker = launch(choose(probes, args.bootstrap), root=work / "broker")
        try:
            return measure(console, sizes, work, broker)
        finally:
            broker.stop()


def measure(console: Console, sizes: Sizes, work: Path, broker: Broker) -> int:
    bootstrap = broker.bootstrap
    prefix = f"bench-edge-{uuid.uuid4().hex[:8]}."
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix))
    body = envelope_body()
    console.print(
        f"broker {bootstrap}; envelope {len(body)} bytes; load {os.getloadavg()}; "
        f"{os.cpu_count()} CPUs"
    )
    script = write_script(
        work / "envelope.lua",
        body,
        {
            "Content-Type": "application/x-sentry-envelope",
            "X-Sentry-Auth": f"Sentry sentry_key={KEY}",
        },
    )
    edge_port, ceiling_port = free_ports(2)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PIPELINE_CONFIG": ""}
    with topics_applied(settings, bootstrap):
        env["PIPELINE_CONFIG"] = str(edge_config(work, bootstrap, prefix, edge_port))
        edge = Server(
            [sys.executable, "-m", "pipeline", "run", "edge"], edge_port, env, work / "edge.log"
        )
        ceiling = Server(
            [sys.executable, "-m", "benchmarks.edge_ceiling", str(ceiling_port)],
            ceiling_port,
            env,
            work / "ceiling.log",
        )
        try:
            edge.wait_ready("/health/live")
            ceiling.wait_ready("/")
            figures, targets = throughput(sizes, script, edge, ceiling)
            if isinstance(broker, KraftBroker):
                flood_figures, flood_targets = flood(
                    sizes, script, edge, broker, body.encode(), rate(figures, "edge")
                )
                figures += flood_figures
                targets += flood_targets
            else:
                console.print("flood skipped: it freezes the broker, so it needs its own")
        finally:
            edge.stop()
            ceiling.stop()
    print_report(console, figures, targets, title="edge benchmarks (wrk on loopback)")
    return 0 if all(t.passed for t in targets if t.low is not None or t.high is not None) else 1


def rate(figures: list[Figure], case: str) -> float:
    return statistics.median(f.rate or 0.0 for f in figures if f.case == case)


def throughput(
    sizes: Sizes, script: Path, edge: Server, ceiling: Server
) -> tuple[list[Figure], list[Target]]:
    url = {"edge": edge.url, "ceiling": ceiling.url}
    path = f"/api/{PROJECT}/envelope/"
    for case in url:  # warm-up: connections, producer metadata, JIT-free but cache-warm
        run_wrk(url[case] + path, script, threads=2, connections=32, duration_s=2, timeout_s=10)
    figures: list[Figure] = []
    edge_loads: list[Load] = []
    for n in range(sizes.pairs):
        for case in ("ceiling", "edge"):
            load = run_wrk(
                url[case] + path,
                script,
                threads=2,
                connections=THROUGHPUT_CONNECTIONS,
                duration_s=sizes.run_s,
                timeout_s=10,
            )
            figures.append(figure(case, f"run {n + 1}", load))
            if case == "edge":
                edge_loads.append(load)
    ratio = rate(figures, "edge") / rate(figures, "ceiling")
    return figures, [
        Target("edge", "requests/s vs the minimal ASGI ceiling (median)", ratio, low=0.5),
        Target("edge", "share of edge answers 200", min(x.share(200) for x in edge_loads), low=1.0),
        Target(
            "edge", "edge requests without an answer", sum(x.errors for x in edge_loads), high=0
        ),
    ]


def flood(
    sizes: Sizes, script: Path, edge: Server, broker: KraftBroker, body: bytes, sustainable: float
) -> tuple[list[Figure], list[Target]]:
    """More connections than the edge admits while the broker is frozen: every answer must come
    (503 after ack_timeout_s at the latest, at once when the edge is full), memory stays flat."""
    url = f"{edge.url}/api/{PROJECT}/envelope/"
    before = rss_mib(edge.pid)
    with frozen(broker), rss_samples(edge.pid) as samples:
        load = run_wrk(
            url,
            script,
            threads=2,
            connections=MAX_IN_FLIGHT * 2,
            duration_s=sizes.flood_s,
            timeout_s=round(ACK_TIMEOUT_S) + 10,
        )
    settled = samples[len(samples) // 6 :] or samples  # past the first buffers filling
    growth = max(settled) / settled[0] - 1 if settled else None
    recovered = accepts_again(edge, body)
    refused = load.share(503) + load.share(429)
    told_when = load.retry_after / load.answered if load.answered else 0.0
    note = (
        f"RSS {before:.0f} MiB before, {min(samples, default=0):.0f}-{max(samples, default=0):.0f}"
        f" during; answered {dict(sorted(load.statuses.items()))}, {load.retry_after} with"
        f" Retry-After, no answer {load.errors}"
    )
    return [figure("flood", "broker frozen", load, note)], [
        Target("flood", "offered requests/s vs sustainable accepts/s", load.rate / sustainable),
        Target("flood", "RSS growth during the flood (fraction)", growth, high=0.2),
        Target("flood", "requests without an answer", float(load.errors), high=0.0),
        Target("flood", "share answered 503/429", refused, low=0.99),
        Target("flood", "share answered with Retry-After", told_when, low=0.99),
        Target("flood", "accepts again once the broker resumes", float(recovered), low=1.0),
    ]


if __name__ == "__main__":
    sys.exit(main())
