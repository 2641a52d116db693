"""The I/O half of topics plan|apply: read topic state from a cluster and submit a plan to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin re-exports these without __all__, which mypy --strict reports.
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from pipeline.adapters.kafka.topics.plan import ClusterState, Plan, Refusal, TopicState
from pipeline.errors import UserError


class TopicsAdminError(UserError):
    """Kafka did not answer a topics request in time, or refused it."""


UNKNOWN_TOPIC = KafkaError.UNKNOWN_TOPIC_OR_PART


class _NotKnownEverywhere(Exception):
    """A topic the metadata lists and the broker asked for its configs does not know yet."""


def read_cluster_state(
    admin: AdminClient, topics: Iterable[str], *, timeout_s: float
) -> ClusterState:
    """Broker count, and partitions, replication and effective configs of existing ``topics``.

    Just after a topic is created, the broker that answers the metadata may know it while the
    one asked for its configs does not yet: that is retried until ``timeout_s``."""
    names = list(topics)
    retrying = Retrying(
        retry=retry_if_exception_type(_NotKnownEverywhere),
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(0.2),
    )
    try:
        return retrying(_read_cluster_state, admin, names, timeout_s)
    except RetryError as exc:
        raise TopicsAdminError(
            f"Kafka request failed (describe configs): {exc.last_attempt.exception()}"
        ) from None


def _read_cluster_state(admin: AdminClient, topics: list[str], timeout_s: float) -> ClusterState:
    with _kafka_answer("list topics"):
        metadata = admin.list_topics(timeout=timeout_s)
    existing = [name for name in topics if name in metadata.topics]
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in existing]
    described = admin.describe_configs(resources, request_timeout=timeout_s) if resources else {}
    states: dict[str, TopicState] = {}
    for resource, future in described.items():
        with _kafka_answer(f"describe configs of {resource.name}"):
            try:
                entries: dict[str, ConfigEntry] = future.result(timeout_s)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.code() == UNKNOWN_TOPIC:
                    raise _NotKnownEverywhere(f"{resource.name}: {_reason(exc)}") from None
                raise
        partitions = metadata.topics[resource.name].partitions.values()
        states[resource.name] = TopicState(
            partitions=len(partitions),
            replication_factor=max((len(p.replicas) for p in partitions), default=0),
            configs={key: entry.value for key, entry in entries.items()},
        )
    return ClusterState(broker_count=len(metadata.brokers), topics=states)


def validate_plan(admin: AdminClient, plan: Plan, *, timeout_s: float) -> list[Refusal]:
    """What the brokers would reject in ``plan`` (unknown configs, bad values), changing nothing."""
    return _failures(_submit(admin, plan, validate_only=True, timeout_s=timeout_s), timeout_s)


def execute_plan(admin: AdminClient, plan: Plan, *, timeout_s: float) -> None:
    """Create topics, set configs and add partitions, waiting until the brokers confirm each."""
    failures = _failures(_submit(admin, plan, validate_only=False, timeout_s=timeout_s), timeout_s)
    if failures:
        lines = [f"  {failure.topic}: {failure.reason}" for failure in failures]
        raise TopicsAdminError("\n".join(["Kafka refused part of the topics plan:", *lines]))


def _submit(
    admin: AdminClient, plan: Plan, *, validate_only: bool, timeout_s: float
) -> list[tuple[str, Future[Any]]]:
    timeouts = {"request_timeout": timeout_s, "validate_only": validate_only}
    pending: list[tuple[str, Future[Any]]] = []
    if plan.creates:
        new_topics = [
            NewTopic(c.topic, c.partitions, c.replication_factor, config=dict(c.configs))
            for c in plan.creates
        ]
        created = admin.create_topics(new_topics, operation_timeout=timeout_s, **timeouts)
        pending += created.items()
    if plan.alters:
        resources = [
            ConfigResource(
                ResourceType.TOPIC,
                alter.topic,
                incremental_configs=[
                    ConfigEntry(c.key, c.new, incremental_operation=AlterConfigOpType.SET)
                    for c in alter.changes
                ],
            )
            for alter in plan.alters
        ]
        altered = admin.incremental_alter_configs(resources, **timeouts)
        pending += [(resource.name, future) for resource, future in altered.items()]
    if plan.partition_adds:
        additions = [NewPartitions(add.topic, add.target) for add in plan.partition_adds]
        added = admin.create_partitions(additions, operation_timeout=timeout_s, **timeouts)
        pending += added.items()
    return pending


def _failures(pending: list[tuple[str, Future[Any]]], timeout_s: float) -> list[Refusal]:
    failures: list[Refusal] = []
    for topic, future in pending:
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            failures.append(Refusal(topic, _reason(exc)))
        except TimeoutError:
            failures.append(Refusal(topic, f"no answer from Kafka within {timeout_s:g} s"))
    return failures


@contextmanager
def _kafka_answer(what: str) -> Iterator[None]:
    """Turn a failed or unanswered request into one sentence for the user."""
    try:
        yield
    except KafkaException as exc:
        raise TopicsAdminError(f"Kafka request failed ({what}): {_reason(exc)}") from None
    except TimeoutError:
        raise TopicsAdminError(f"Kafka did not answer in time ({what})") from None


def _reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)
