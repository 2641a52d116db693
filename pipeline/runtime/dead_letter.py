"""The DLQ record for a message that could not be processed: the original bytes plus why."""

from __future__ import annotations

from pipeline.runtime.messages import InputMessage, Produce


def dead_letter_record(
    msg: InputMessage, topic: str, stage: str, error: str, attempts: int, now_ms: int
) -> Produce:
    """Original key, value and headers, plus `dlq.*` headers that `pipeline replay` reads back."""
    headers = [
        *[(k, v) for k, v in msg.headers if not k.startswith("dlq.")],
        ("dlq.origin.topic", msg.topic.encode()),
        ("dlq.origin.partition", str(msg.partition).encode()),
        ("dlq.origin.offset", str(msg.offset).encode()),
        ("dlq.stage", stage.encode()),
        ("dlq.error", error[:1000].encode("utf-8", "replace")),
        ("dlq.attempts", str(attempts).encode()),
        ("dlq.time_ms", str(now_ms).encode()),
    ]
    return Produce(topic=topic, value=msg.value, key=msg.key, headers=headers)
