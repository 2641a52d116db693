"""The contract every stage codes against, whichever wire format is configured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class DecodeError(Exception):
    """Bytes no known schema can read: the message belongs in the DLQ, retrying cannot help."""


class EncodeError(ValueError):
    """A record that does not match its schema: a bug in the code that built it."""


class Codec(Protocol):
    """Avro values for Kafka; safe to share between threads.

    ``schema`` names a directory of ``schemas/``; decoding always returns the shape of its latest
    version. ``topic`` selects the registry subject and is ignored by single-object encoding.
    """

    def encode(self, schema: str, record: Mapping[str, Any], topic: str) -> bytes: ...

    def decode(self, schema: str, data: bytes, topic: str) -> dict[str, Any]: ...
