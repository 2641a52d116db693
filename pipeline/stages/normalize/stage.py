"""The normalize stage on the runtime: events.raw in, events.normalized and outcomes out.

Normalizing is CPU-bound, so it can run in worker processes (``normalize.mode``): the process
function is a picklable object that leaves its codec behind when pickled and builds one in each
process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.adapters.kafka.codec import Codec, make_codec
from pipeline.config import KafkaSettings, Settings
from pipeline.runtime.messages import InputMessage, Processed, Produce
from pipeline.runtime.stage import StageSpec
from pipeline.stages.normalize.event import normalize_event
from pipeline.stages.normalize.results import STAGE, Filtered, Normalized
from pipeline.stages.normalize.settings import NormalizeSettings
from pipeline.stages.outcomes import (
    OUTCOMES_TOPIC,
    InvalidOutcomes,
    Outcomes,
    received_at_headers,
    wall_ms,
)
from pipeline.stages.passthrough import minified_frames_header

INPUT_TOPIC = "events.raw"
OUTPUT_TOPIC = "events.normalized"
INPUT_SCHEMA = "raw_event"
OUTPUT_SCHEMA = "processed_event"


class Normalize:
    """raw_event → processed_event, or a ``filtered``/``invalid`` outcome.

    Bytes that are no raw_event raise DecodeError: the runtime dead-letters them and
    ``on_invalid`` emits their ``invalid`` outcome.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: NormalizeSettings,
        codec: Codec | None = None,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self._kafka = kafka
        self._settings = settings
        self._clock = clock
        self._output = kafka.topic(OUTPUT_TOPIC)
        self._outcomes_topic = kafka.topic(OUTCOMES_TOPIC)
        self._outcomes = Outcomes(codec, self._outcomes_topic, STAGE) if codec is not None else None

    def __getstate__(self) -> dict[str, Any]:
        """Codecs hold parsed schemas (and maybe a registry client): each process builds its own."""
        return {**self.__dict__, "_outcomes": None}

    def __call__(self, msg: InputMessage) -> Processed:
        outcomes = self._outcomes or self._connect()
        codec = outcomes.codec
        raw = codec.decode(INPUT_SCHEMA, msg.value or b"", msg.topic)
        result = normalize_event(raw, self._settings, self._clock())
        if isinstance(result, Normalized):
            event = result.event
            record = Produce(
                self._output,
                codec.encode(OUTPUT_SCHEMA, event, self._output),
                key=event["event_id"].encode(),
                headers=[
                    *received_at_headers(event["received_at_ms"]),
                    minified_frames_header(event),
                ],
            )
            return Processed((record,))
        outcome = outcomes.produce(
            "filtered" if isinstance(result, Filtered) else "invalid",
            event_id=result.event_id,
            project_id=result.project_id,
            received_at_ms=result.received_at_ms,
            now_ms=self._clock(),
            reason=result.reason,
        )
        return Processed((outcome,))

    def _connect(self) -> Outcomes:
        # Two threads may both get here once; each builds an equal codec, no harm done.
        self._outcomes = Outcomes(make_codec(self._kafka), self._outcomes_topic, STAGE)
        return self._outcomes


def normalize_stage(settings: Settings) -> StageSpec:
    """Factory for ``pipeline run normalize``."""
    kafka = settings.kafka
    codec = make_codec(kafka)
    return StageSpec(
        name=STAGE,
        input_topic=kafka.topic(INPUT_TOPIC),
        group_id=kafka.topic(f"pipeline-{STAGE}"),
        process=Normalize(kafka, settings.normalize, codec),
        mode=settings.normalize.mode,
        runnable_threads=1,
        on_invalid=InvalidOutcomes(
            Outcomes(codec, kafka.topic(OUTCOMES_TOPIC), STAGE), INPUT_SCHEMA
        ),
    )
