"""Confluent wire format through a schema registry; subjects follow TopicNameStrategy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from fastavro.read import SchemaResolutionError

from pipeline.adapters.kafka.codec.avro_body import (
    CORRUPT_BODY_ERRORS,
    RECORD_SHAPE_ERRORS,
    mismatch_error,
    schema_mismatch,
)
from pipeline.adapters.kafka.codec.base import DecodeError
from pipeline.adapters.kafka.codec.schemas import SchemaCatalog

_NOT_FOUND = 404


class RegistryCodec:
    """Writes the latest version of each schema, registering it under ``<topic>-value``.

    Registry outages and auth failures propagate unchanged: they are retryable, unlike a
    message whose schema id the registry does not know, which is a DecodeError.
    """

    def __init__(self, catalog: SchemaCatalog, client: SchemaRegistryClient) -> None:
        self._catalog = catalog
        latest = {name: versions[-1] for name, versions in catalog.versions.items()}
        self._serializers = {
            name: AvroSerializer(client, v.text, conf={"validate.strict.allow.default": True})
            for name, v in latest.items()
        }
        self._deserializers = {name: AvroDeserializer(client, v.text) for name, v in latest.items()}

    def encode(self, schema: str, record: Mapping[str, Any], topic: str) -> bytes:
        version = self._catalog.latest(schema)
        context = SerializationContext(topic, MessageField.VALUE)
        try:
            wire = version.packing.pack(record) if version.packing else record
            data = self._serializers[schema](wire, context)
        except RECORD_SHAPE_ERRORS as exc:
            raise mismatch_error(version, record, exc) from exc
        if not isinstance(data, bytes):
            raise mismatch_error(version, record, ValueError("the serializer returned no bytes"))
        return data

    def decode(self, schema: str, data: bytes, topic: str) -> dict[str, Any]:
        reader = self._catalog.latest(schema)
        context = SerializationContext(topic, MessageField.VALUE)
        try:
            value = self._deserializers[schema](data, context)
        except SchemaRegistryError as exc:
            if exc.http_status_code != _NOT_FOUND:
                raise
            raise DecodeError(f"the registry does not know the writer schema: {exc}") from exc
        except SerializationError as exc:
            raise DecodeError(f"not Confluent Avro wire format: {exc}") from exc
        except SchemaResolutionError as exc:
            raise schema_mismatch("the registry's writer schema", reader) from exc
        except CORRUPT_BODY_ERRORS as exc:
            raise DecodeError(f"corrupt or truncated {reader.label} message: {exc!r}") from exc
        if not isinstance(value, dict):
            raise DecodeError(f"{reader.label} message decoded to {type(value).__name__}")
        return reader.packing.unpack(value) if reader.packing else value
