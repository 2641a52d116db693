"""The cohort snapshot from the broker alone: the summaries topic and the groups' offsets."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.adapters.kafka.compacted import read_latest
from pipeline.cohorts.oldest import oldest_unprocessed_age_s
from pipeline.cohorts.snapshot import CohortSnapshot, decode_summaries, fold_summaries
from pipeline.config import Settings


def read_snapshot(
    settings: Settings, window_s: float = 3600, timeout_s: float = 10.0
) -> CohortSnapshot:
    """Blocks for a broker round trip or two; raises UserError when the topic is missing."""
    config = base_client_config(settings.kafka, resolve_bootstrap(settings.kafka))
    topic = settings.kafka.topic(settings.cohorts.topic)
    summaries = decode_summaries(read_latest(config, topic, timeout_s).values())
    now_ms = time.time_ns() // 1_000_000
    oldest = oldest_unprocessed_age_s(config, live_groups(summaries), now_ms, timeout_s)
    return fold_summaries(
        summaries,
        now_ms,
        settings.cohorts.width_s,
        window_s=window_s,
        stuck_after_s=settings.cohorts.stuck_after_s,
        oldest=oldest,
    )


def live_groups(summaries: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """Each stage's live consumer group and input topic, as its summaries name them."""
    return {
        str(s["stage"]): (str(s["group"]), str(s["topic"]))
        for s in summaries
        if s.get("kind") == "partition" and not s.get("drain") and "group" in s and "topic" in s
    }
