"""Running the real stages against a real broker: topics under a unique prefix, stages on
threads, records in, records read back to the end of a topic, waiting on committed offsets.

A stage is done with its input once its group committed the input's end offsets: the runtime
commits an offset only after every record it produced was acknowledged, so by then all of the
stage's output is readable.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from pipeline.adapters.kafka.codec import Codec
from pipeline.adapters.kafka.group_offsets import GroupOffsetsReader
from pipeline.adapters.kafka.topics.spec import load_topics
from pipeline.adapters.kafka.topics.sync import apply_topics
from pipeline.config import KafkaSettings, RuntimeSettings, Settings
from pipeline.demo import demo_frames
from pipeline.runtime.engine import StageRuntime
from pipeline.runtime.messages import InputMessage, Produce
from pipeline.runtime.runner import build_runtime
from pipeline.runtime.stage import StageSpec
from pipeline.stages.normalize import Normalized, NormalizeSettings, normalize_event
from pipeline.stages.outcomes import received_at_headers

TIMEOUT_S = 30.0
FAST_RUNTIME = RuntimeSettings(
    commit_interval_s=0.1,
    revoke_grace_s=2.0,
    shutdown_grace_s=5.0,
    retry_attempts=2,
    retry_initial_backoff_s=0.01,
    retry_max_backoff_s=0.5,
    workers=8,
    http_port=0,
)


# ----- topics and settings ------------------------------------------------------------------


@contextmanager
def pipeline_topics(admin: AdminClient) -> Iterator[str]:
    """topics.yaml applied under a fresh prefix (yielded); the topics are deleted afterwards."""
    prefix = f"it-{uuid.uuid4().hex[:10]}-"
    kafka = KafkaSettings(topic_prefix=prefix)
    apply_topics(
        admin, load_topics(kafka.topics_file, drain_horizon_s=1.0), kafka.topic, timeout_s=TIMEOUT_S
    )
    try:
        yield prefix
    finally:
        ours = [t for t in admin.list_topics(timeout=TIMEOUT_S).topics if t.startswith(prefix)]
        if ours:
            for future in admin.delete_topics(ours, operation_timeout=TIMEOUT_S).values():
                future.result(TIMEOUT_S)


def pipeline_settings(bootstrap: str, prefix: str, tmp_path: Path, **sections: Any) -> Settings:
    """Settings for tests: fast commits and retries, files under ``tmp_path``; ``sections``
    (normalize=..., store=..., ...) replace whole sections."""
    values: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
        "runtime": FAST_RUNTIME,
        "symbolicate": {
            "artifacts_dir": tmp_path / "artifacts",
            "cache_dir": tmp_path / "symbolicate-cache",
        },
        "store": {"dsn": f"sqlite:///{tmp_path / 'events.db'}", "batch_max_wait_s": 0.05},
    }
    return Settings(**{**values, **sections})


# ----- running stages -----------------------------------------------------------------------


class RunningStage:
    """One stage's runtime on a thread; its metrics are readable through ``metric``."""

    def __init__(self, spec: StageSpec, settings: Settings) -> None:
        self.spec = spec
        self.registry = CollectorRegistry()
        self.runtime: StageRuntime = build_runtime(spec, settings, self.registry)
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, name=f"stage-{spec.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = TIMEOUT_S) -> int | None:
        self.runtime.request_stop()
        self._thread.join(timeout_s)
        return self.exit_code

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, {"stage": self.spec.name, **labels})
        return value or 0.0

    def metric_sum(self, name: str) -> float:
        """``name`` summed over every label set of this stage (e.g. over partitions)."""
        return sum(
            sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == name and sample.labels.get("stage") == self.spec.name
        )

    def _run(self) -> None:
        self.exit_code = self.runtime.run()


@contextmanager
def running(*stages: tuple[StageSpec, Settings]) -> Iterator[list[RunningStage]]:
    """Start the stages; on exit stop them and check each stopped cleanly."""
    started = [RunningStage(spec, settings) for spec, settings in stages]
    for stage in started:
        stage.start()
    try:
        yield started
    finally:
        codes = {stage.spec.name: stage.stop() for stage in started}
    assert all(code == 0 for code in codes.values()), f"stage exit codes: {codes}"


# ----- records in and out -------------------------------------------------------------------


def produce(bootstrap: str, records: Iterable[Produce]) -> int:
    """Send and wait for every delivery report; returns how many were sent."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _: Any) -> None:
        if error is not None:
            failures.append(error)

    count = 0
    for record in records:
        producer.produce(
            record.topic,
            value=record.value,
            key=record.key,
            headers=list(record.headers),
            on_delivery=delivered,
        )
        producer.poll(0)
        count += 1
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0 and not failures, f"{remaining} undelivered, failures: {failures}"
    return count


def read_to_end(bootstrap: str, topic: str, timeout_s: float = TIMEOUT_S) -> list[InputMessage]:
    """Every record of ``topic`` up to its current end offsets, in partition order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",
            "enable.auto.commit": False,
            # A partition written in transactions ends with a commit marker no message is
            # delivered for: its end is the EOF event.
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        ends: dict[int, int] = {}
        starts: list[TopicPartition] = []
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            if high > low:
                ends[partition] = high
                starts.append(TopicPartition(topic, partition, low))
        consumer.assign(starts)
        records: list[InputMessage] = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.2):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF and msg.partition() is not None:
                        ends.pop(cast(int, msg.partition()), None)
                    continue
                part, offset = msg.partition(), msg.offset()
                assert part is not None and offset is not None
                records.append(_detached(msg, topic, part, offset))
                if offset + 1 >= ends.get(part, 0):
                    ends.pop(part, None)
        assert not ends, f"{topic}: partitions {sorted(ends)} not read to the end in {timeout_s}s"
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def _detached(msg: Any, topic: str, partition: int, offset: int) -> InputMessage:
    return InputMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        key=msg.key(),
        value=msg.value(),
        timestamp_ms=msg.timestamp()[1],
        headers=msg.headers() or (),
    )


def decode_all(codec: Codec, schema: str, records: Sequence[InputMessage]) -> list[dict[str, Any]]:
    return [codec.decode(schema, r.value or b"", r.topic) for r in records]


def wait_for(
    condition: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S, interval_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        partitions = consumer.list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets on ``topic`` (partitions without a commit left out)."""
    with GroupOffsetsReader({"bootstrap.servers": bootstrap}) as reader:
        partitions = list(end_offsets(bootstrap, topic))
        return reader.committed(group, topic, partitions, TIMEOUT_S)


NOT_READY = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
}


def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """True once ``group`` committed every record ``topic`` holds; a freshly started broker
    still electing leaders or loading its group coordinator means "not yet", not a failure."""
    try:
        with GroupOffsetsReader({"bootstrap.servers": bootstrap}) as reader:
            return reader.read(group, topic, TIMEOUT_S).lag == 0
    except KafkaException as exc:
        if exc.args[0].code() in NOT_READY:
            return False
        raise


def wait_until_done(bootstrap: str, spec: StageSpec, timeout_s: float = TIMEOUT_S) -> None:
    wait_for(
        lambda: caught_up(bootstrap, spec.group_id, spec.input_topic),
        f"{spec.name} to commit the end of {spec.input_topic}",
        timeout_s,
        interval_s=0.2,
    )


# ----- events -------------------------------------------------------------------------------


def raw_event(
    codec: Codec,
    topic: str,
    *,
    event_id: str,
    project_id: int,
    payload: bytes,
    received_at_ms: int,
) -> Produce:
    """A raw_event record as the edge writes it, with the received_at header."""
    record = {
        "event_id": event_id,
        "project_id": project_id,
        "received_at_ms": received_at_ms,
        "payload": payload,
        "remote_addr": None,
        "content_type": "application/json",
    }
    return Produce(
        topic,
        codec.encode("raw_event", record, topic),
        key=event_id.encode(),
        headers=received_at_headers(received_at_ms),
    )


def processed_event(
    project_id: int,
    payload: dict[str, Any],
    received_at_ms: int,
    event_id: str | None = None,
) -> dict[str, Any]:
    """What normalize makes of ``payload`` (the pure function, no broker)."""
    raw = {
        "event_id": event_id or new_event_id(),
        "project_id": project_id,
        "received_at_ms": received_at_ms,
        "payload": json.dumps(payload).encode(),
    }
    result = normalize_event(raw, NormalizeSettings(), received_at_ms)
    assert isinstance(result, Normalized), result
    return result.event


def as_record(codec: Codec, topic: str, event: dict[str, Any]) -> Produce:
    """A processed_event record as normalize or symbolicate writes it."""
    return Produce(
        topic,
        codec.encode("processed_event", event, topic),
        key=event["event_id"].encode(),
        headers=received_at_headers(event["received_at_ms"]),
    )


@dataclass(frozen=True)
class ExpectedFrame:
    filename: str
    lineno: int
    colno: int
    function: str


def demo_scenarios() -> list[dict[str, Any]]:
    scenarios: list[dict[str, Any]] = demo_frames()["scenarios"]
    return scenarios


def js_payload(
    scenario: dict[str, Any], release: str, sdk: str = "sentry.javascript.browser"
) -> dict[str, Any]:
    """An SDK event throwing the demo scenario's exception from its minified frames."""
    return {
        "platform": "javascript",
        "release": release,
        "sdk": {"name": sdk, "version": "8.0.0"},
        "exception": {
            "values": [
                {
                    **scenario["exception"],
                    "stacktrace": {
                        "frames": [
                            {
                                "abs_path": f["abs_path"],
                                "lineno": f["lineno"],
                                "colno": f["colno"],
                                "function": f["function"],
                                "in_app": True,
                            }
                            for f in scenario["frames"]
                        ]
                    },
                }
            ]
        },
    }


def expected_frames(scenario: dict[str, Any]) -> list[ExpectedFrame]:
    """Where symbolicate must map the scenario's frames (frames.json ``expected``)."""
    return [
        ExpectedFrame(
            filename=f["expected"]["source"].removeprefix("../"),
            lineno=f["expected"]["lineno"],
            colno=f["expected"]["colno"],
            function=f["expected"]["function"],
        )
        for f in scenario["frames"]
    ]


def mapped_frames(event: dict[str, Any]) -> list[ExpectedFrame]:
    """The frames of a stored or symbolicated event's last exception, as ExpectedFrame values."""
    return [
        ExpectedFrame(f["filename"], f["lineno"], f["colno"], f["function"])
        for f in event["exceptions"][-1]["frames"]
    ]


def new_event_id() -> str:
    return uuid.uuid4().hex
