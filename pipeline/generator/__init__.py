"""Synthetic SDK events for load tests and `pipeline dev`: a seeded mix, sent at a rate.

``EventFactory(Mix(...), random.Random(seed)).next(now_ms)`` builds raw_event records (pure);
``send_events`` produces them to Kafka through an ``EventSender`` and counts delivery reports.
"""

from pipeline.generator.factory import EventFactory, GeneratedRecord, Mix
from pipeline.generator.js_events import DEMO_RELEASES, DemoRelease
from pipeline.generator.send import (
    RAW_TOPIC,
    EventSender,
    SendStats,
    generator_producer,
    send_events,
)

__all__ = [
    "DEMO_RELEASES",
    "RAW_TOPIC",
    "DemoRelease",
    "EventFactory",
    "EventSender",
    "GeneratedRecord",
    "Mix",
    "SendStats",
    "generator_producer",
    "send_events",
]
