"""Avro single-object encoding: marker C3 01, the writer schema's fingerprint, the body."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from pipeline.adapters.kafka.codec.avro_body import read_body, write_body
from pipeline.adapters.kafka.codec.base import DecodeError
from pipeline.adapters.kafka.codec.schemas import SchemaCatalog

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8


class SingleObjectCodec:
    """Needs no registry: the fingerprint picks the writer version from the catalog."""

    def __init__(self, catalog: SchemaCatalog) -> None:
        self._catalog = catalog

    def encode(self, schema: str, record: Mapping[str, Any], topic: str) -> bytes:
        version = self._catalog.latest(schema)
        stream = io.BytesIO()
        stream.write(MARKER)
        stream.write(version.fingerprint)
        write_body(stream, version, record)
        return stream.getvalue()

    def decode(self, schema: str, data: bytes, topic: str) -> dict[str, Any]:
        reader = self._catalog.latest(schema)
        if len(data) < HEADER_SIZE:
            raise DecodeError(
                f"{len(data)} bytes is too short for an Avro single-object message"
                f" (header alone is {HEADER_SIZE} bytes)"
            )
        if data[:2] != MARKER:
            raise DecodeError(
                f"not Avro single-object encoding: starts with {data[:2].hex()}, expected c301"
            )
        writer = self._catalog.by_fingerprint.get(data[2:HEADER_SIZE])
        if writer is None:
            raise DecodeError(
                f"unknown writer schema fingerprint {data[2:HEADER_SIZE].hex()}:"
                f" no schema in {self._catalog.directory} has it"
            )
        return read_body(data, HEADER_SIZE, writer, reader)
