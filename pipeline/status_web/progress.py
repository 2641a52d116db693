"""Per-stage throughput and lag from the broker alone, for `pipeline status` in a deployment.

A stage runs as many pods; scraping one of them would show a fraction. The consumer group's
committed offsets cover every pod: their increase is what the stage finished, the distance to the
high-water marks is its lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.adapters.kafka.group_offsets import GroupOffsetsReader
from pipeline.config import KafkaSettings
from pipeline.dev.status import StageRow
from pipeline.stages.normalize.stage import INPUT_TOPIC as NORMALIZE_INPUT
from pipeline.stages.store.stage import INPUT_TOPIC as STORE_INPUT
from pipeline.stages.symbolicate.stage import INPUT_TOPIC as SYMBOLICATE_INPUT

STAGE_INPUTS = {
    "normalize": NORMALIZE_INPUT,
    "symbolicate": SYMBOLICATE_INPUT,
    "store": STORE_INPUT,
}


class GroupProgress:
    """Reads each stage's group offsets; rates are measured between two reads."""

    def __init__(
        self,
        admin_config: Mapping[str, Any],
        kafka: KafkaSettings,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = GroupOffsetsReader(admin_config)
        self._kafka = kafka
        self._timeout_s = timeout_s
        self._clock = clock
        self._previous: dict[str, tuple[float, int]] = {}

    def stage_rows(self) -> list[StageRow]:
        return [self._row(name, topic) for name, topic in STAGE_INPUTS.items()]

    def close(self) -> None:
        self._reader.close()

    def _row(self, name: str, input_topic: str) -> StageRow:
        group = self._kafka.topic(f"pipeline-{name}")
        offsets = self._reader.read(group, self._kafka.topic(input_topic), self._timeout_s)
        now = self._clock()
        previous = self._previous.get(name)
        self._previous[name] = (now, offsets.done)
        rate = None
        if previous is not None and now > previous[0]:
            rate = max(0, offsets.done - previous[1]) / (now - previous[0])
        stalled = rate == 0 and offsets.lag > 0
        return StageRow(
            name,
            "not committing" if stalled else "running",
            healthy=not stalled,
            consumed_per_s=rate,
            lag=offsets.lag,
        )
