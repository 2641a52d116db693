"""topics plan|apply end to end: read the cluster, diff, check with the brokers, apply, confirm."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import structlog
from confluent_kafka.admin import AdminClient

from pipeline.adapters.kafka.topics.admin import (
    TopicsAdminError,
    execute_plan,
    read_cluster_state,
    validate_plan,
)
from pipeline.adapters.kafka.topics.plan import Plan, check_refusals, plan_topics
from pipeline.adapters.kafka.topics.spec import TopicSpec

log = structlog.get_logger()


def current_plan(
    admin: AdminClient,
    specs: Sequence[TopicSpec],
    broker_name: Callable[[str], str],
    *,
    timeout_s: float,
) -> Plan:
    """The plan against the live cluster, with whatever the brokers would reject as refusals."""
    plan = _diff(admin, specs, broker_name, timeout_s=timeout_s)
    rejected = validate_plan(admin, plan, timeout_s=timeout_s)
    return dataclasses.replace(plan, refusals=plan.refusals + tuple(rejected))


def apply_topics(
    admin: AdminClient,
    specs: Sequence[TopicSpec],
    broker_name: Callable[[str], str],
    *,
    timeout_s: float,
    poll_interval_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Plan:
    """Apply the plan, then wait until the cluster reads back in sync; returns what was applied.

    Nothing is changed when any part of the plan is refused.
    """
    plan = current_plan(admin, specs, broker_name, timeout_s=timeout_s)
    check_refusals(plan)
    if plan.in_sync:
        log.info("topics.in_sync", topics=len(specs))
        return plan
    execute_plan(admin, plan, timeout_s=timeout_s)
    deadline = clock() + timeout_s
    remaining = _diff(admin, specs, broker_name, timeout_s=timeout_s)
    while not remaining.in_sync:
        if clock() >= deadline:
            raise TopicsAdminError(
                f"the cluster still differs from the topics file {timeout_s:g} s after apply "
                f"({_summary(remaining)}); run `pipeline topics plan` to see what is left"
            )
        sleep(poll_interval_s)
        remaining = _diff(admin, specs, broker_name, timeout_s=timeout_s)
    log.info(
        "topics.applied",
        created=len(plan.creates),
        altered=len(plan.alters),
        partitions_added=len(plan.partition_adds),
    )
    return plan


def _diff(
    admin: AdminClient,
    specs: Sequence[TopicSpec],
    broker_name: Callable[[str], str],
    *,
    timeout_s: float,
) -> Plan:
    names = [broker_name(spec.name) for spec in specs]
    cluster = read_cluster_state(admin, names, timeout_s=timeout_s)
    return plan_topics(specs, cluster, broker_name)


def _summary(plan: Plan) -> str:
    topics = {c.topic for c in plan.creates} | {a.topic for a in plan.alters}
    topics |= {p.topic for p in plan.partition_adds} | {r.topic for r in plan.refusals}
    return "topics " + ", ".join(sorted(topics))
