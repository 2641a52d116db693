"""Pick the wire format from the settings."""

from __future__ import annotations

import structlog

from pipeline.adapters.kafka.codec.base import Codec
from pipeline.adapters.kafka.codec.schemas import SchemaCatalog, load_catalog
from pipeline.adapters.kafka.codec.single_object import SingleObjectCodec
from pipeline.config import KafkaSettings
from pipeline.errors import UserError


def make_codec(kafka: KafkaSettings) -> Codec:
    """Single-object encoding unless ``kafka.schema_registry_url`` is set.

    A ``mock://`` registry URL gives confluent-kafka's in-process registry: one per process,
    so only for tests and single-process experiments.
    """
    catalog = load_catalog(kafka.schemas_dir)
    codec: Codec
    if kafka.schema_registry_url:
        codec = _registry_codec(catalog, kafka.schema_registry_url)
    else:
        codec = SingleObjectCodec(catalog)
    structlog.get_logger().info(
        "codec.ready",
        encoding="confluent_registry" if kafka.schema_registry_url else "single_object",
        schemas={name: len(versions) for name, versions in catalog.versions.items()},
    )
    return codec


def _registry_codec(catalog: SchemaCatalog, url: str) -> Codec:
    # Imported here: confluent_kafka.schema_registry needs the package's schemaregistry extra.
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        from pipeline.adapters.kafka.codec.registry import RegistryCodec
    except ImportError as exc:
        raise UserError(
            "kafka.schema_registry_url is set but the schema registry client cannot load"
            f" ({exc}); install confluent-kafka[schemaregistry]"
        ) from None
    return RegistryCodec(catalog, SchemaRegistryClient.new_client({"url": url}))
