"""The DLQ record for a message that could not be processed: the original bytes plus why."""

from __future__ import annotations

from pipeline.runtime.messages import InputMessage, Produce

DLQ_PREFIX = "dlq."
ORIGIN_TOPIC_HEADER = "dlq.origin.topic"
ORIGIN_PARTITION_HEADER = "dlq.origin.partition"
ORIGIN_OFFSET_HEADER = "dlq.origin.offset"
STAGE_HEADER = "dlq.stage"
ERROR_HEADER = "dlq.error"
ATTEMPTS_HEADER = "dlq.attempts"
TIME_HEADER = "dlq.time_ms"


def dead_letter_record(
    msg: InputMessage, topic: str, stage: str, error: str, attempts: int, now_ms: int
) -> Produce:
    """Original key, value and headers, plus `dlq.*` headers that `pipeline replay` reads back."""
    headers = [
        *[(k, v) for k, v in msg.headers if not k.startswith(DLQ_PREFIX)],
        (ORIGIN_TOPIC_HEADER, msg.topic.encode()),
        (ORIGIN_PARTITION_HEADER, str(msg.partition).encode()),
        (ORIGIN_OFFSET_HEADER, str(msg.offset).encode()),
        (STAGE_HEADER, stage.encode()),
        (ERROR_HEADER, error[:1000].encode("utf-8", "replace")),
        (ATTEMPTS_HEADER, str(attempts).encode()),
        (TIME_HEADER, str(now_ms).encode()),
    ]
    return Produce(topic=topic, value=msg.value, key=msg.key, headers=headers)
