"""The symbolicate stage on the runtime: events.normalized in, events.symbolicated out.

Symbolicating waits on disk and HTTP, so it runs in threads that share one Symbolicator (and
with it the parsed source maps and the fetch caches) per process.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.adapters.kafka.codec import Codec, make_codec
from pipeline.config import Settings
from pipeline.runtime.messages import InputMessage, Processed, Produce
from pipeline.runtime.stage import StageSpec
from pipeline.stages.normalize.grouping import grouping_hash_of
from pipeline.stages.outcomes import OUTCOMES_TOPIC, InvalidOutcomes, Outcomes, wall_ms
from pipeline.stages.passthrough import nothing_to_map, stage_time_header
from pipeline.stages.symbolicate.frames import STAGE
from pipeline.stages.symbolicate.symbolicator import Symbolicator

INPUT_TOPIC = "events.normalized"
OUTPUT_TOPIC = "events.symbolicated"
SCHEMA = "processed_event"


class Symbolicate:
    """processed_event → processed_event with frames mapped and the grouping hash recomputed
    (grouping reads file and function names, which symbolication changes); an event normalize
    marked as having no frame to map passes on undecoded (passthrough.py)."""

    def __init__(
        self,
        codec: Codec,
        symbolicator: Symbolicator,
        output_topic: str,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self._codec = codec
        self._symbolicator = symbolicator
        self._output = output_topic
        self._clock = clock

    def __call__(self, msg: InputMessage) -> Processed:
        if nothing_to_map(msg):
            passed = Produce(
                self._output, msg.value, msg.key, [stage_time_header(STAGE, self._clock())]
            )
            return Processed((passed,))
        event = self._codec.decode(SCHEMA, msg.value or b"", msg.topic)
        mapped = self._symbolicator.symbolicate(event)
        mapped["grouping_hash"] = grouping_hash_of(mapped)
        mapped["stage_times_ms"] = {**mapped["stage_times_ms"], STAGE: self._clock()}
        record = Produce(
            self._output,
            self._codec.encode(SCHEMA, mapped, self._output),
            key=mapped["event_id"].encode(),
        )
        return Processed((record,))


def symbolicate_stage(settings: Settings) -> StageSpec:
    """Factory for ``pipeline run symbolicate``."""
    kafka = settings.kafka
    codec = make_codec(kafka)
    symbolicator = Symbolicator(settings.symbolicate)
    return StageSpec(
        name=STAGE,
        input_topic=kafka.topic(INPUT_TOPIC),
        group_id=kafka.topic(f"pipeline-{STAGE}"),
        process=Symbolicate(codec, symbolicator, kafka.topic(OUTPUT_TOPIC)),
        mode="threads",
        runnable_threads=1,
        on_invalid=InvalidOutcomes(Outcomes(codec, kafka.topic(OUTCOMES_TOPIC), STAGE), SCHEMA),
        on_close=symbolicator.close,
    )
