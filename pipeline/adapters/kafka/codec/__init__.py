"""Avro codec for Kafka message values: single-object encoding, or a Confluent schema registry.

``make_codec(settings.kafka)`` once per process, then ``codec.encode(name, record, topic)`` and
``codec.decode(name, data, topic)`` from any thread; a DecodeError sends the message to the DLQ.
The registry path (``registry.RegistryCodec``) is imported only when a registry is configured.
"""

from pipeline.adapters.kafka.codec.base import Codec, DecodeError, EncodeError
from pipeline.adapters.kafka.codec.factory import make_codec
from pipeline.adapters.kafka.codec.schemas import (
    SchemaCatalog,
    SchemaLoadError,
    SchemaVersion,
    load_catalog,
)
from pipeline.adapters.kafka.codec.single_object import SingleObjectCodec

__all__ = [
    "Codec",
    "DecodeError",
    "EncodeError",
    "SchemaCatalog",
    "SchemaLoadError",
    "SchemaVersion",
    "SingleObjectCodec",
    "load_catalog",
    "make_codec",
]
