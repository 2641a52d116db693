"""`pipeline replay`: copy a range of a topic into a topic, or a DLQ back to its input.

From Python (topic names are broker-side, i.e. with any topic prefix already applied)::

    from pipeline.replay import RangeSpec, replay_dlq, replay_range

    config = {"bootstrap.servers": "127.0.0.1:9092"}
    summary = replay_dlq(config, "events.raw.dlq")  # back to each record's dlq.origin.topic
    assert summary.complete, summary.first_error
    replay_range(config, "events.raw", "events.raw", spec=RangeSpec(start_offset=100))

Reads use `assign` (no group, no commits); ends are fixed at planning, so replaying a topic
into itself terminates; writes go through an idempotent producer and count only when acknowledged.
"""

from pipeline.replay.api import (
    ReplayOptions,
    ReplayPlan,
    plan_replay,
    replay_dlq,
    replay_range,
    run_replay,
)
from pipeline.replay.ranges import PartitionRange, RangeSpec
from pipeline.replay.routing import BackFromDlq, CopyTo, Skip
from pipeline.replay.summary import ReplaySummary
from pipeline.replay.times import parse_time_ms

__all__ = [
    "BackFromDlq",
    "CopyTo",
    "PartitionRange",
    "RangeSpec",
    "ReplayOptions",
    "ReplayPlan",
    "ReplaySummary",
    "Skip",
    "parse_time_ms",
    "plan_replay",
    "replay_dlq",
    "replay_range",
    "run_replay",
]
