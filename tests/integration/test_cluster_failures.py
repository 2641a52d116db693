"""The three stages on a three-broker cluster (replication factor 3, min.insync.replicas 2) while
a broker dies by SIGKILL, and while the controller leader restarts: the stages keep running and
every event sent is stored exactly once, with exactly one accepted outcome."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
import yaml
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

from pipeline.adapters.db import open_store
from pipeline.adapters.kafka.codec import Codec, make_codec
from pipeline.adapters.kafka.topics.spec import load_topics
from pipeline.adapters.kafka.topics.sync import apply_topics
from pipeline.config import KafkaSettings, Settings
from pipeline.runtime.messages import Produce
from pipeline.stages.outcomes import wall_ms
from pipeline.stages.registry import resolve_stage
from tests.support.cluster import KraftCluster, kraft_cluster
from tests.support.pipeline import (
    TIMEOUT_S,
    decode_all,
    new_event_id,
    pipeline_settings,
    raw_event,
    read_to_end,
    running,
    wait_for,
    wait_until_done,
)

pytestmark = pytest.mark.integration

log = structlog.get_logger()

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 2000
RATE_PER_S = 250
PROJECT = 31


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KraftCluster]:
    with kraft_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


def replicated_topics_file(directory: Path) -> Path:
    """topics.yaml as production keeps it: every topic on all three brokers, two in sync."""
    spec = yaml.safe_load((ROOT / "topics.yaml").read_text())
    spec["defaults"]["replication_factor"] = 3
    spec["defaults"]["config"]["min.insync.replicas"] = 2
    path = directory / "topics.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def cluster_settings(cluster: KraftCluster, tmp_path: Path, prefix: str) -> Settings:
    kafka = KafkaSettings(
        bootstrap_servers=cluster.bootstrap,
        topic_prefix=prefix,
        topics_file=replicated_topics_file(tmp_path),
    )
    settings = pipeline_settings(cluster.bootstrap, prefix, tmp_path, kafka=kafka)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topics = load_topics(kafka.topics_file, drain_horizon_s=1.0)
    apply_topics(admin, topics, kafka.topic, timeout_s=TIMEOUT_S)
    return settings


class SteadySender:
    """Raw events at a steady rate from an idempotent producer (acks=all), on a thread."""

    def __init__(self, settings: Settings, event_ids: list[str]) -> None:
        self._settings = settings
        self._event_ids = event_ids
        self.sent = 0
        self.failures: list[KafkaError] = []
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(TIMEOUT_S * 2)
        assert not self._thread.is_alive(), "the sender never got its last acknowledgement"
        assert not self.failures, f"deliveries failed: {self.failures[:3]}"

    def _run(self) -> None:
        kafka = self._settings.kafka
        producer = Producer(
            {"bootstrap.servers": kafka.bootstrap_servers, "enable.idempotence": True}
        )
        codec = make_codec(kafka)
        topic = kafka.topic("events.raw")
        started = time.monotonic()
        for n, event_id in enumerate(self._event_ids):
            record = self._record(codec, topic, n, event_id)
            producer.produce(
                record.topic, record.value, key=record.key, headers=list(record.headers),
                on_delivery=self._delivered,
            )  # fmt: skip
            self.sent += 1
            producer.poll(0)
            ahead = started + (n + 1) / RATE_PER_S - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        producer.flush(TIMEOUT_S * 2)

    def _record(self, codec: Codec, topic: str, n: int, event_id: str) -> Produce:
        payload = json.dumps({"message": f"job {n % 10} failed"}).encode()
        return raw_event(
            codec,
            topic,
            event_id=event_id,
            project_id=PROJECT,
            payload=payload,
            received_at_ms=wall_ms(),
        )

    def _delivered(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self.failures.append(error)


def run_through_failure(
    cluster: KraftCluster, tmp_path: Path, prefix: str, failure: Callable[[SteadySender], None]
) -> None:
    settings = cluster_settings(cluster, tmp_path, prefix)
    event_ids = [new_event_id() for _ in range(EVENTS)]
    sender = SteadySender(settings, event_ids)
    specs = [
        (resolve_stage(name, settings), settings) for name in ("normalize", "symbolicate", "store")
    ]
    with running(*specs) as stages:
        sender.start()
        wait_for(lambda: sender.sent >= EVENTS // 3, "a third of the events sent", TIMEOUT_S)
        failure(sender)
        sender.join()
        for spec, _ in specs:
            wait_until_done(cluster.bootstrap, spec, timeout_s=90)
        assert all(stage.alive for stage in stages), "a stage stopped during the failure"

    store = open_store(settings.store.dsn)
    try:
        stored = Counter(e.event_id for e in store.list_events(limit=EVENTS * 2))
        times_seen = sum(g.times_seen for g in store.list_groups(project_id=PROJECT, limit=100))
    finally:
        store.close()
    outcomes = decode_all(
        make_codec(settings.kafka),
        "outcome",
        read_to_end(cluster.bootstrap, settings.kafka.topic("outcomes")),
    )
    accepted = Counter(o["event_id"] for o in outcomes if o["outcome"] == "accepted")
    log.info(
        "cluster_failure.counts",
        sent=EVENTS,
        stored=len(stored),
        times_seen=times_seen,
        accepted=sum(accepted.values()),
    )
    assert set(stored) == set(event_ids), "events lost or invented"
    assert max(stored.values()) == 1
    assert times_seen == EVENTS, "an event counted twice in its group"
    assert accepted == Counter(event_ids), "not exactly one accepted outcome per event"


def test_a_broker_killed_mid_stream_loses_and_duplicates_nothing(
    cluster: KraftCluster, tmp_path: Path
) -> None:
    controller = cluster.controller_leader()
    victim = next(n for n in range(1, 4) if n != controller)

    def kill_and_restart(sender: SteadySender) -> None:
        cluster.node(victim).kill()
        resume_at = sender.sent + EVENTS // 6
        wait_for(lambda: sender.sent >= resume_at, "events sent to two brokers", TIMEOUT_S)
        cluster.node(victim).start()

    run_through_failure(cluster, tmp_path, "kill-", kill_and_restart)


def test_a_restarted_controller_leader_loses_and_duplicates_nothing(
    cluster: KraftCluster, tmp_path: Path
) -> None:
    def restart_controller(_sender: SteadySender) -> None:
        leader = cluster.controller_leader()
        cluster.node(leader).stop()
        new_leader = cluster.controller_leader()
        assert new_leader != leader
        cluster.node(leader).start()

    run_through_failure(cluster, tmp_path, "ctl-", restart_controller)
