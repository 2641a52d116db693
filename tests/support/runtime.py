"""Helpers for the stage runtime's integration tests.

A stage runs either on a thread of the test process (to reach its sink, pause book and metrics
directly) or as a real `pipeline run` subprocess (for signals, kill -9 and the HTTP port). Tests
produce uniquely numbered messages, read the output topic back, read committed offsets from the
broker, and wait for conditions with deadlines instead of sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import httpx
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pipeline.adapters.kafka.group_offsets import GroupOffsetsReader
from pipeline.config import (
    PROJECT_ROOT,
    KafkaSettings,
    RuntimeSettings,
    Settings,
)
from pipeline.runtime.partition import PartitionStatus
from pipeline.runtime.runner import build_runtime
from pipeline.runtime.stage import StageSpec
from tests.support.stages import INPUT, OUTPUT, Flavour

T = TypeVar("T")
GroupProtocol = Literal["consumer", "classic"]

TIMEOUT_S = 30.0
STAGE_NAME = "scripted"
PIPELINE_BIN = Path(sys.executable).parent / "pipeline"

FAST_RUNTIME: dict[str, Any] = {
    "commit_interval_s": 0.2,
    "retry_initial_backoff_s": 0.01,
    "retry_max_backoff_s": 0.2,
    "revoke_grace_s": 5.0,
    "shutdown_grace_s": 15.0,
}
"""Limits that keep the tests quick: frequent commits, short retry backoff."""


def wait_for(
    condition: Callable[[], T | None],
    what: str | Callable[[], str],
    timeout_s: float = TIMEOUT_S,
    interval_s: float = 0.05,
) -> T:
    """The first truthy value of ``condition``; fails naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {detail}")
        time.sleep(interval_s)


def holds_for(
    condition: Callable[[], bool], what: str, seconds: float, interval_s: float = 0.05
) -> None:
    """Asserts ``condition`` stays true for ``seconds`` (for things that must *not* happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), what
        time.sleep(interval_s)


# ----- topics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptedTopics:
    """The scripted stage's topics under one unique prefix."""

    prefix: str

    @property
    def input(self) -> str:
        return self.prefix + INPUT

    @property
    def output(self) -> str:
        return self.prefix + OUTPUT

    @property
    def dlq(self) -> str:
        return self.input + ".dlq"

    def named(self, name: str) -> str:
        return self.prefix + name


@contextmanager
def scripted_topics(
    admin: AdminClient, partitions: int = 3, extra: Sequence[str] = ()
) -> Iterator[ScriptedTopics]:
    """Input with ``partitions`` partitions; output, DLQ and ``extra`` with one (arrival order
    in the output is then its offset order). All are deleted afterwards."""
    topics = ScriptedTopics(f"rt-{uuid.uuid4().hex[:12]}-")
    sizes = {topics.input: partitions, topics.output: 1, topics.dlq: 1}
    sizes.update({topics.named(name): 1 for name in extra})
    specs = [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in sizes.items()]
    for future in admin.create_topics(specs).values():
        future.result(timeout=TIMEOUT_S)
    wait_for(
        lambda: all(_has_leaders(admin, name, count) for name, count in sizes.items()),
        f"leaders of every partition of {sorted(sizes)}",
    )
    try:
        yield topics
    finally:
        for future in admin.delete_topics(list(sizes), operation_timeout=TIMEOUT_S).values():
            future.exception(timeout=TIMEOUT_S)


def _has_leaders(admin: AdminClient, topic: str, count: int) -> bool:
    found = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
    return (
        found is not None
        and found.error is None
        and len(found.partitions) == count
        and all(p.leader >= 0 and p.error is None for p in found.partitions.values())
    )


# ----- settings -----------------------------------------------------------------------------


def stage_settings(
    bootstrap: str, topics: ScriptedTopics, protocol: GroupProtocol = "consumer", **runtime: Any
) -> Settings:
    """Settings for a stage in this process: FAST_RUNTIME overridden by ``runtime``."""
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap, topic_prefix=topics.prefix, group_protocol=protocol
        ),
        runtime=RuntimeSettings(**{**FAST_RUNTIME, **runtime}),
    )


def stage_env(
    bootstrap: str,
    topics: ScriptedTopics,
    group: str,
    mode: Flavour = "threads",
    protocol: GroupProtocol = "consumer",
    **runtime: Any,
) -> dict[str, str]:
    """The environment of a `pipeline run` subprocess of the scripted stage."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        PIPELINE_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        PIPELINE_KAFKA__TOPIC_PREFIX=topics.prefix,
        PIPELINE_KAFKA__GROUP_PROTOCOL=protocol,
        PIPELINE_OBSERVABILITY__LOG_FORMAT="json",
        TEST_STAGE_MODE=mode,
        TEST_STAGE_GROUP=group,
    )
    for key, value in {**FAST_RUNTIME, "http_port": free_port(), **runtime}.items():
        env[f"PIPELINE_RUNTIME__{key.upper()}"] = str(value)
    return env


def free_port() -> int:
    """A port nothing listens on now (a fixed one, so the test knows where to look)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ----- producing and reading ----------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One input message as the broker stored it."""

    partition: int
    offset: int
    value: bytes

    @property
    def id(self) -> str:
        return message_id(self.value)


def message_id(value: bytes | None) -> str:
    """Scripted values end with ``:<id>``."""
    return (value or b"").rsplit(b":", 1)[-1].decode()


def numbered(kind: str, tag: str, count: int, partitions: Sequence[int]) -> list[tuple[int, bytes]]:
    """``count`` values ``<kind>:<tag><n>`` spread round-robin over ``partitions``."""
    return [(partitions[n % len(partitions)], f"{kind}:{tag}{n}".encode()) for n in range(count)]


class InputProducer:
    """Produces ``(partition, value)`` pairs keyed by their id and keeps the delivery reports."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        self._sent: list[Sent] = []
        self._errors: list[KafkaError] = []
        self._count = 0

    def send(self, topic: str, messages: Iterable[tuple[int, bytes]]) -> None:
        for partition, value in messages:
            self._producer.produce(
                topic,
                value=value,
                key=message_id(value).encode(),
                partition=partition,
                on_delivery=self._delivered,
            )
            self._producer.poll(0)
            self._count += 1

    def _delivered(self, error: KafkaError | None, msg: Message) -> None:
        if error is not None:
            self._errors.append(error)
        else:
            self._sent.append(Sent(msg.partition() or 0, msg.offset() or 0, msg.value() or b""))

    def flush(self) -> list[Sent]:
        """Everything sent so far, as stored, once every delivery report came back."""
        remaining = self._producer.flush(TIMEOUT_S)
        assert remaining == 0 and not self._errors, f"produce failed: {self._errors}"
        assert len(self._sent) == self._count
        return sorted(self._sent, key=lambda s: (s.partition, s.offset))


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[int, bytes]]) -> list[Sent]:
    """Produce and wait for the broker; returns the messages with their offsets."""
    producer = InputProducer(bootstrap)
    producer.send(topic, messages)
    return producer.flush()


class SteadyProducer:
    """Produces messages at a steady rate on a background thread, so work arrives during the
    test's rebalances and restarts; ``join`` returns what the broker stored."""

    def __init__(
        self, bootstrap: str, topic: str, messages: Sequence[tuple[int, bytes]], rate_per_s: float
    ) -> None:
        self._producer = InputProducer(bootstrap)
        self._topic, self._messages, self._rate = topic, messages, rate_per_s
        self._thread = threading.Thread(target=self._run, name="steady-producer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        for index, message in enumerate(self._messages):
            time.sleep(max(0.0, started + index / self._rate - time.monotonic()))
            self._producer.send(self._topic, [message])

    def join(self, timeout_s: float = TIMEOUT_S) -> list[Sent]:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the producer did not finish in time"
        return self._producer.flush()


@dataclass(frozen=True)
class Received:
    """One record read back from a topic."""

    partition: int
    offset: int
    value: bytes
    headers: Mapping[str, bytes]

    @property
    def id(self) -> str:
        return message_id(self.value)


class TopicReader:
    """Reads a whole topic from the beginning on a background thread, outside any group."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 1) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)]
        )
        self._records: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"reader-{topic}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            batch = []
            for msg in self._consumer.consume(num_messages=500, timeout=0.05):
                if msg.error() is None:
                    batch.append(
                        Received(
                            partition=msg.partition() or 0,
                            offset=msg.offset() or 0,
                            value=msg.value() or b"",
                            headers=_headers(msg),
                        )
                    )
            if batch:
                with self._lock:
                    self._records.extend(batch)

    def records(self) -> list[Received]:
        with self._lock:
            return list(self._records)

    def ids(self) -> set[str]:
        return {r.id for r in self.records()}

    def wait_for_ids(self, expected: Iterable[str], timeout_s: float = TIMEOUT_S) -> None:
        """Waits until every id in ``expected`` was read."""
        wanted = set(expected)
        wait_for(
            lambda: wanted <= self.ids(),
            lambda: (
                f"{len(wanted - self.ids())} of {len(wanted)} ids, e.g. "
                f"{sorted(wanted - self.ids())[:5]}"
            ),
            timeout_s,
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _headers(msg: Message) -> dict[str, bytes]:
    found = msg.headers() or []
    pairs = found.items() if isinstance(found, dict) else found
    return {k: v.encode() if isinstance(v, str) else (v or b"") for k, v in pairs}


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed offset per partition; negative where it has none."""
    with GroupOffsetsReader({"bootstrap.servers": bootstrap}) as reader:
        return _committed_per_partition(reader, group, topic, partitions)


def _committed_per_partition(
    reader: GroupOffsetsReader, group: str, topic: str, partitions: int
) -> list[int]:
    found = reader.committed(group, topic, list(range(partitions)), TIMEOUT_S)
    return [found.get(p, -1) for p in range(partitions)]


def all_committed(bootstrap: str, group: str, topic: str) -> bool:
    """Whether the group committed every partition up to its end; False, not an error, while a
    fresh broker's group coordinator is still loading."""
    try:
        with GroupOffsetsReader({"bootstrap.servers": bootstrap}) as reader:
            return reader.read(group, topic, TIMEOUT_S).lag == 0
    except KafkaException:
        return False


def end_offsets(admin: AdminClient, topic: str, partitions: int) -> list[int]:
    """The high-water mark per partition: every acknowledged record lies below it."""
    request = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    result = admin.list_offsets(request, request_timeout=TIMEOUT_S)
    found = {tp.partition: future.result().offset for tp, future in result.items()}
    return [found[p] for p in range(partitions)]


def set_group_offsets(admin: AdminClient, group: str, topic: str, offsets: Sequence[int]) -> None:
    """Commit ``offsets`` for an idle group, as a downstream stage catching up would."""
    request = [
        ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic, p, offset) for p, offset in enumerate(offsets)]
        )
    ]
    admin.alter_consumer_group_offsets(request, request_timeout=TIMEOUT_S)[group].result()


# ----- a stage on a thread ------------------------------------------------------------------


class StageThread:
    """A StageRuntime on a thread of the test process, with its own metrics registry."""

    def __init__(self, spec: StageSpec, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.runtime = build_runtime(spec, settings, self.registry)
        self.exit_code: int | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"stage-{spec.name}", daemon=True)

    def _run(self) -> None:
        try:
            self.exit_code = self.runtime.run()
        except BaseException as exc:  # re-raised on the test's thread by wait()
            self._error = exc

    def start(self) -> StageThread:
        self._thread.start()
        return self

    def wait(self, timeout_s: float = TIMEOUT_S) -> int:
        """The exit code once the loop has returned (re-raising what it raised)."""
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"the stage did not stop within {timeout_s}s"
        if self._error is not None:
            raise self._error
        assert self.exit_code is not None
        return self.exit_code

    def stop(self, timeout_s: float = TIMEOUT_S) -> int:
        self.runtime.request_stop()
        return self.wait(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def metric(self, name: str, **labels: str) -> float:
        """A sample of this stage's registry (counters end in ``_total``); 0 if absent."""
        value = self.registry.get_sample_value(name, {"stage": STAGE_NAME, **labels})
        return value or 0.0

    def partitions(self) -> dict[int, PartitionStatus]:
        """Assigned input partitions by number (read while the loop may change them)."""
        while True:
            try:
                return {status.partition: status for status in self.runtime.partitions()}
            except RuntimeError:  # the loop thread resized the dict mid-iteration
                continue

    def paused_reasons(self, partition: int) -> frozenset[str]:
        """Why an input partition is paused; empty while it is not assigned."""
        status = self.partitions().get(partition)
        return frozenset() if status is None else status.paused_reasons

    def __enter__(self) -> StageThread:
        return self.start()

    def __exit__(self, *_: object) -> None:
        if self.running:
            self.stop()


# ----- a stage as a `pipeline run` subprocess ----------------------------------------------


class StageProcess:
    """`pipeline run <stage>` (the scripted stage unless told) with its JSON log in a file."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        stage: str = "tests.support.stages:scripted_stage",
    ) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(PIPELINE_BIN), "run", stage],
            env=dict(env),
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._port: int | None = None

    def events(self) -> list[dict[str, Any]]:
        """Log events written so far (non-JSON lines, e.g. librdkafka's, are skipped)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line still being written
        return found

    def has_event(self, name: str) -> bool:
        return any(e.get("event") == name for e in self.events())

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def port(self) -> int:
        if self._port is None:
            event = wait_for(
                lambda: next(
                    (e for e in self.events() if e.get("event") == "runtime.http_listening"), None
                ),
                lambda: f"the HTTP port in the log of {self.log_path}:\n{self.log_tail()}",
            )
            self._port = int(event["port"])
        return self._port

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5.0)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the /metrics samples ``name`` with these labels (among others); counters
        end in ``_total``."""
        wanted = {"stage": STAGE_NAME, **labels}
        return sum(
            float(sample.value)
            for family in text_string_to_metric_families(self.get("/metrics").text)
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted.items())
        )

    def wait_ready(self, timeout_s: float = TIMEOUT_S) -> None:
        """Until /readyz answers 200 and the stage logged its first assignment."""
        wait_for(
            lambda: self.get("/readyz").status_code == 200 and self.has_event("runtime.assigned"),
            lambda: f"the stage to be ready:\n{self.log_tail()}",
            timeout_s,
        )

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = TIMEOUT_S) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"`pipeline run` did not exit within {timeout_s}s:\n{self.log_tail()}"
            ) from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT_S)
        self._log.close()

    def __enter__(self) -> StageProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class CommitSample:
    """The group's committed offsets, then the output's end: every output acknowledged before
    those commits lies below ``output_end``."""

    committed: list[int]
    output_end: int


class CommitSampler:
    """Samples a group's commits against its one-partition output while a test runs, so the
    test can check that no commit ever got ahead of acknowledged output."""

    def __init__(self, bootstrap: str, group: str, topics: ScriptedTopics, partitions: int) -> None:
        self.samples: list[CommitSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(bootstrap, group, topics, partitions),
            name="commit-sampler",
            daemon=True,
        )
        self._thread.start()

    def _run(self, bootstrap: str, group: str, topics: ScriptedTopics, partitions: int) -> None:
        config: dict[str, Any] = {"bootstrap.servers": bootstrap}
        with GroupOffsetsReader(config) as reader:
            admin = AdminClient(config)
            while not self._stop.wait(0.05):
                try:
                    committed = _committed_per_partition(reader, group, topics.input, partitions)
                    [output_end] = end_offsets(admin, topics.output, 1)
                except KafkaException:  # the group's coordinator is still loading: sample again
                    continue
                self.samples.append(CommitSample(committed, output_end))

    def stop(self) -> list[CommitSample]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples
