"""Open ranges per stage, for `pipeline backlog`: size, progress, age and what expired."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException

from pipeline.adapters.kafka.client_config import base_client_config, resolve_bootstrap
from pipeline.adapters.kafka.codec import make_codec
from pipeline.backlog.ledger import LedgerReader
from pipeline.backlog.ledger_state import LedgerState
from pipeline.backlog.ranges import BacklogRange, oldest_first
from pipeline.backlog.watermarks import Watermarks
from pipeline.config import Settings


@dataclass(frozen=True)
class RangeStatus:
    range: BacklogRange
    low_watermark: int | None
    """None when the broker did not say; expiry is then what the ledger recorded."""
    now_ms: int

    @property
    def expired(self) -> int:
        """Recorded by the drain, plus what retention deleted since and the drain has not
        reached yet: messages of this range that will never be processed."""
        pending = 0
        if self.low_watermark is not None:
            pending = max(0, min(self.low_watermark, self.range.end) - self.range.start)
        return self.range.expired + pending

    @property
    def age_s(self) -> float:
        return max(0, self.now_ms - self.range.created_at_ms) / 1000

    @property
    def idle_s(self) -> float:
        """Since the range was last written (sliced or progress recorded)."""
        return max(0, self.now_ms - self.range.updated_at_ms) / 1000

    def to_json(self) -> dict[str, Any]:
        rng = self.range
        return {
            **rng.to_record(),
            "size": rng.size,
            "remaining": rng.remaining,
            "progress": round(rng.progress, 4),
            "age_s": round(self.age_s, 1),
            "idle_s": round(self.idle_s, 1),
            "expired": self.expired,
            "low_watermark": self.low_watermark,
        }


def summarize(
    ranges: Sequence[BacklogRange], lows: Mapping[tuple[str, int], int], now_ms: int
) -> list[RangeStatus]:
    return [
        RangeStatus(rng, lows.get((rng.topic, rng.partition)), now_ms)
        for rng in oldest_first(list(ranges))
    ]


def open_ranges(
    settings: Settings, timeout_s: float, stage: str | None = None
) -> list[RangeStatus]:
    """Reads the whole ledger and asks the broker where each range's partition begins."""
    base = base_client_config(settings.kafka, resolve_bootstrap(settings.kafka))
    state = LedgerState()
    topic = settings.kafka.topic(settings.backlog.ledger_topic)
    reader = LedgerReader(base, topic, make_codec(settings.kafka), state, timeout_s)
    try:
        reader.catch_up(timeout_s)
    finally:
        reader.close()
    ranges = [r for r in state.open_ranges() if stage is None or r.stage == stage]
    lows: dict[tuple[str, int], int] = {}
    watermarks = Watermarks(base, timeout_s)
    try:
        for key in {(r.topic, r.partition) for r in ranges}:
            try:
                lows[key] = watermarks.low(*key)
            except KafkaException:
                continue  # shown without the live expiry check
    finally:
        watermarks.close()
    return summarize(ranges, lows, time.time_ns() // 1_000_000)
