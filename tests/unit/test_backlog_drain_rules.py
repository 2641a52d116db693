"""The drain's pure decisions: rate gate, ranges ending short, stalls below retention."""

from __future__ import annotations

from dataclasses import replace

from pipeline.backlog.drain import ended_short, stalled_below
from pipeline.backlog.rate import RateGate
from pipeline.runtime.partition import PartitionStatus

IDLE = PartitionStatus(
    topic="events.raw",
    partition=1,
    position=800,
    committed=800,
    high_watermark=5000,
    in_flight=0,
    last_timestamp_ms=0,
    paused_reasons=frozenset(),
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_gate_allows_a_second_of_burst_then_the_rate() -> None:
    clock = Clock()
    gate = RateGate(100.0, clock)
    assert not gate.exhausted(100)
    assert gate.exhausted(1)
    clock.now += 0.5
    assert not gate.exhausted(49)  # 50 refilled, 49 taken
    clock.now += 10
    assert not gate.exhausted(100)  # refills to one second's worth, not ten
    assert gate.exhausted(1)


def test_rate_gate_stays_closed_until_an_overshoot_is_paid_back() -> None:
    clock = Clock()
    gate = RateGate(100.0, clock)
    assert gate.exhausted(400)  # one tick took far more than allowed
    clock.now += 2
    assert gate.exhausted(0)
    clock.now += 1.1
    assert not gate.exhausted(0)


def test_a_range_ends_short_once_past_its_end_with_everything_recorded() -> None:
    at_end = replace(IDLE, paused_reasons=frozenset({"range_end"}))
    assert ended_short(at_end)
    assert not ended_short(IDLE)
    assert not ended_short(replace(at_end, in_flight=3))
    assert not ended_short(replace(at_end, committed=790))


def test_stalled_below_the_low_watermark_only_when_idle_and_recorded() -> None:
    assert stalled_below(IDLE, low=900)
    assert not stalled_below(IDLE, low=800)
    assert not stalled_below(replace(IDLE, in_flight=1), low=900)
    assert not stalled_below(replace(IDLE, committed=700), low=900)
    assert not stalled_below(replace(IDLE, position=None, committed=None), low=900)
