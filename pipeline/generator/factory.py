"""The event mix: which raw_event records a load test sends, drawn from one seeded RNG.

Pure: the receive time comes in as ``now_ms``, so a seed and a clock reproduce every record.
"""

from __future__ import annotations

import json
import random
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal

from pipeline.demo import demo_frames
from pipeline.errors import UserError
from pipeline.generator import common
from pipeline.generator.invalid import invalid_payload
from pipeline.generator.js_events import js_error, js_message
from pipeline.generator.python_events import python_error, python_message

Kind = Literal["event", "stale", "invalid", "duplicate"]
DAY_MS = 86_400_000
PLATFORMS = (("python", 0.4), ("javascript", 0.3), ("node", 0.15), ("message", 0.15))


@dataclass(frozen=True)
class Mix:
    projects: int = 3
    invalid_ratio: float = 0.02
    """Share of events whose payload normalize rejects."""
    duplicate_ratio: float = 0.01
    """Extra records repeating an earlier event's id, per event."""
    stale_ratio: float = 0.0
    """Share of events whose SDK timestamp is one to seven days old."""
    received_ago_ms: int = 0
    """Stale events were also received this long ago (a backlog the edge could not deliver)."""

    def __post_init__(self) -> None:
        ratios = {
            "invalid ratio": self.invalid_ratio,
            "duplicate ratio": self.duplicate_ratio,
            "stale ratio": self.stale_ratio,
        }
        for name, ratio in ratios.items():
            if not 0 <= ratio <= 1:
                raise UserError(f"the {name} must be between 0 and 1, not {ratio:g}")
        if self.invalid_ratio + self.stale_ratio > 1:
            raise UserError("the invalid and stale ratios together must not exceed 1")
        if self.projects < 1:
            raise UserError(f"need at least one project, not {self.projects}")
        if self.received_ago_ms < 0:
            raise UserError("the receive delay of stale events must not be negative")
        if self.received_ago_ms and not self.stale_ratio:
            raise UserError("--received-ago applies to stale events: set --stale-ratio above 0")


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    kind: Kind
    platform: str
    """python, javascript, node, or the invalid payload's kind."""
    record: dict[str, Any]
    """A raw_event record (schemas/raw_event): what the edge would produce."""

    @property
    def received_at_ms(self) -> int:
        received: int = self.record["received_at_ms"]
        return received


class EventFactory:
    """Draws events one at a time; a duplicate follows its event with ``duplicate_ratio``."""

    def __init__(self, mix: Mix, rng: random.Random, remembered: int = 64) -> None:
        self._mix = mix
        self._rng = rng
        self._demo = demo_frames()
        self._recent: deque[GeneratedRecord] = deque(maxlen=remembered)

    def next(self, now_ms: int) -> list[GeneratedRecord]:
        rng, mix = self._rng, self._mix
        roll = rng.random()
        if roll < mix.invalid_ratio:
            generated = self._invalid(now_ms)
        else:
            generated = self._valid(now_ms, stale=roll < mix.invalid_ratio + mix.stale_ratio)
            self._recent.append(generated)
        batch = [generated]
        if self._recent and rng.random() < mix.duplicate_ratio:
            batch.append(self._duplicate(rng.choice(self._recent), now_ms))
        return batch

    def _valid(self, now_ms: int, stale: bool) -> GeneratedRecord:
        rng = self._rng
        received_at_ms = now_ms - self._mix.received_ago_ms if stale else now_ms
        if stale:
            timestamp_ms = received_at_ms - round(rng.uniform(1, 7) * DAY_MS)
        else:
            timestamp_ms = received_at_ms - rng.randint(0, 2000)
        ip = common.client_ip(rng)
        platform = common.weighted(rng, PLATFORMS)
        if platform == "python":
            payload = python_error(rng, timestamp_ms, ip)
        elif platform == "message":
            web = rng.random() < 0.5
            payload = (js_message if web else python_message)(rng, timestamp_ms, ip)
            platform = payload["platform"]
        else:
            payload = js_error(rng, platform, timestamp_ms, ip, self._demo)
        record = self._record(payload["event_id"], received_at_ms, json.dumps(payload).encode(), ip)
        return GeneratedRecord("stale" if stale else "event", platform, record)

    def _invalid(self, now_ms: int) -> GeneratedRecord:
        event_id = common.event_id(self._rng)
        kind, payload = invalid_payload(self._rng, event_id)
        record = self._record(event_id, now_ms, payload, common.client_ip(self._rng))
        return GeneratedRecord("invalid", kind, record)

    def _record(
        self, event_id: str, received_at_ms: int, payload: bytes, ip: str
    ) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "project_id": self._rng.randint(1, self._mix.projects),
            "received_at_ms": received_at_ms,
            "payload": payload,
            "remote_addr": ip,
            "content_type": "application/json",
        }

    @staticmethod
    def _duplicate(original: GeneratedRecord, now_ms: int) -> GeneratedRecord:
        """The SDK retried: the same event again, received again (a backlog's stays old)."""
        received_at_ms = original.received_at_ms if original.kind == "stale" else now_ms
        record = {**original.record, "received_at_ms": received_at_ms}
        return replace(original, kind="duplicate", record=record)
