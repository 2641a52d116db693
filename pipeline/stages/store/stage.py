"""The store stage on the runtime: events.symbolicated in, the event database and outcomes out."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from pipeline.adapters.db import open_store
from pipeline.adapters.kafka.codec import Codec, make_codec
from pipeline.config import Settings
from pipeline.runtime.messages import InputMessage, Processed, Write
from pipeline.runtime.stage import StageSpec
from pipeline.stages.outcomes import OUTCOMES_TOPIC, InvalidOutcomes, Outcomes, wall_ms
from pipeline.stages.passthrough import stage_times_in
from pipeline.stages.store.sink import EventSink, StoreItem

STAGE = "store"
INPUT_TOPIC = "events.symbolicated"
SCHEMA = "processed_event"


def to_sink(msg: InputMessage) -> Processed:
    """Hands the encoded event to the sink, which decodes it on its own thread (sink.py)."""
    source = f"{msg.topic}/{msg.partition}/{msg.offset}"
    item = StoreItem(msg.value or b"", msg.topic, source, stage_times_in(msg.headers))
    return Processed((Write(item),))


class DecodeEvent:
    """An item's event as the database wants it, stamped with when the store took it."""

    def __init__(self, codec: Codec, clock: Callable[[], int] = wall_ms) -> None:
        self._codec = codec
        self._clock = clock

    def __call__(self, item: StoreItem) -> dict[str, Any]:
        event = self._codec.decode(SCHEMA, item.value, item.topic)
        times = event["stage_times_ms"]
        event["stage_times_ms"] = {**times, **item.stage_times, STAGE: self._clock()}
        return event


def store_stage(settings: Settings) -> StageSpec:
    """Factory for ``pipeline run store``; a malformed DSN fails here, a database that is down
    only delays the first write."""
    kafka, store = settings.kafka, settings.store
    codec = make_codec(kafka)
    outcomes = Outcomes(codec, kafka.topic(OUTCOMES_TOPIC), STAGE)
    sink = EventSink(
        partial(open_store, store.dsn, timeout_s=store.timeout_s), outcomes, DecodeEvent(codec)
    )
    sink.connect()
    return StageSpec(
        name=STAGE,
        input_topic=kafka.topic(INPUT_TOPIC),
        group_id=kafka.topic(f"pipeline-{STAGE}"),
        process=to_sink,
        mode="threads",
        runnable_threads=1,
        on_invalid=InvalidOutcomes(outcomes, SCHEMA),
        sink=sink,
        sink_batch_size=store.batch_size,
        sink_batch_max_wait_s=store.batch_max_wait_s,
        exactly_once=store.exactly_once,
    )
