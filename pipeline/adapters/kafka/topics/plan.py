"""The difference between topics.yaml and a cluster: pure, so every rule is tested without Kafka.

The plan only ever adds: it creates topics, sets declared configs and adds partitions. It never
deletes, and what Kafka cannot do in place (fewer partitions, another replication factor) is a
refusal that stops the whole plan rather than a change silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pipeline.adapters.kafka.topics.spec import TopicSpec, topic_name_problem
from pipeline.errors import UserError


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster has it; ``configs`` are effective values, defaults included."""

    partitions: int
    replication_factor: int
    configs: Mapping[str, str | None]


@dataclass(frozen=True)
class ClusterState:
    broker_count: int
    topics: Mapping[str, TopicState]


@dataclass(frozen=True)
class CreateTopic:
    topic: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class ConfigChange:
    key: str
    old: str | None
    new: str


@dataclass(frozen=True)
class AlterConfigs:
    topic: str
    changes: tuple[ConfigChange, ...]


@dataclass(frozen=True)
class AddPartitions:
    topic: str
    current: int
    target: int


@dataclass(frozen=True)
class Refusal:
    """A declared difference that topics apply will not make, and why."""

    topic: str
    reason: str


@dataclass(frozen=True)
class Plan:
    creates: tuple[CreateTopic, ...] = ()
    alters: tuple[AlterConfigs, ...] = ()
    partition_adds: tuple[AddPartitions, ...] = ()
    refusals: tuple[Refusal, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not (self.creates or self.alters or self.partition_adds or self.refusals)


class PlanRefusedError(UserError):
    """The plan holds changes Kafka cannot make in place."""


def plan_topics(
    specs: Sequence[TopicSpec], cluster: ClusterState, broker_name: Callable[[str], str]
) -> Plan:
    """What it takes to make ``cluster`` match ``specs``; ``broker_name`` adds the topic prefix."""
    creates: list[CreateTopic] = []
    alters: list[AlterConfigs] = []
    adds: list[AddPartitions] = []
    refusals: list[Refusal] = []
    for spec in specs:
        topic = broker_name(spec.name)
        name_problem = topic_name_problem(topic)
        if name_problem:
            refusals.append(Refusal(topic, name_problem))
            continue
        state = cluster.topics.get(topic)
        if state is None and spec.replication_factor > cluster.broker_count:
            reason = (
                f"replication_factor {spec.replication_factor} is above the "
                f"{cluster.broker_count} broker(s) of the cluster"
            )
            refusals.append(Refusal(topic, reason))
        elif state is None:
            configs = spec.broker_configs()
            creates.append(CreateTopic(topic, spec.partitions, spec.replication_factor, configs))
        else:
            refusals += _unsupported(topic, spec, state)
            if spec.partitions > state.partitions:
                adds.append(AddPartitions(topic, state.partitions, spec.partitions))
            changes, unknown = _config_changes(spec.broker_configs(), state.configs)
            refusals += [Refusal(topic, f"config {key}: unknown to the broker") for key in unknown]
            if changes:
                alters.append(AlterConfigs(topic, changes))
    return Plan(tuple(creates), tuple(alters), tuple(adds), tuple(refusals))


def check_refusals(plan: Plan) -> None:
    """Raise when any part of ``plan`` is refused: a partial apply would be worse than none."""
    if plan.refusals:
        lines = [f"  {r.topic}: {r.reason}" for r in plan.refusals]
        raise PlanRefusedError("\n".join(["the topics plan cannot be applied:", *lines]))


def _unsupported(topic: str, spec: TopicSpec, state: TopicState) -> list[Refusal]:
    refusals: list[Refusal] = []
    if spec.partitions < state.partitions:
        refusals.append(
            Refusal(
                topic,
                f"partitions {state.partitions} -> {spec.partitions}: Kafka cannot reduce a "
                "topic's partitions; create a new topic and replay into it",
            )
        )
    if spec.replication_factor != state.replication_factor:
        refusals.append(
            Refusal(
                topic,
                f"replication_factor {state.replication_factor} -> {spec.replication_factor}: "
                "not supported by topics apply; reassign replicas with kafka-reassign-partitions",
            )
        )
    return refusals


def _config_changes(
    declared: Mapping[str, str], current: Mapping[str, str | None]
) -> tuple[tuple[ConfigChange, ...], list[str]]:
    changes: list[ConfigChange] = []
    unknown: list[str] = []
    for key, new in sorted(declared.items()):
        if key not in current:
            unknown.append(key)
        elif not _same_value(key, new, current[key]):
            changes.append(ConfigChange(key, current[key], new))
    return tuple(changes), unknown


def _same_value(key: str, declared: str, current: str | None) -> bool:
    """Compare as the broker means it: list order and number spelling do not matter."""
    if current is None:
        return False
    if key == "cleanup.policy":
        return _as_set(declared) == _as_set(current)
    try:
        return Decimal(declared) == Decimal(current)
    except InvalidOperation:
        return declared.strip() == current.strip()


def _as_set(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())
