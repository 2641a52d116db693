"""The Avro binary body shared by both wire formats, and the errors it turns into."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import IO, Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.validation import ValidationError, ValidationErrorData, validate

from pipeline.adapters.kafka.codec.base import DecodeError, EncodeError
from pipeline.adapters.kafka.codec.schemas import SchemaVersion

# What fastavro raises on bytes that are not a valid body (found by fuzzing valid messages).
CORRUPT_BODY_ERRORS = (EOFError, ValueError, IndexError, OverflowError)
# What fastavro's writer raises on a record of the wrong shape.
RECORD_SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, OverflowError)


def write_body(stream: IO[bytes], version: SchemaVersion, record: Mapping[str, Any]) -> None:
    try:
        wire = version.packing.pack(record) if version.packing else record
        # strict_allow_default: a misspelt optional field fails instead of vanishing.
        schemaless_writer(stream, version.parsed, wire, strict_allow_default=True)
    except RECORD_SHAPE_ERRORS as exc:
        raise mismatch_error(version, record, exc) from exc


def read_body(
    data: bytes, start: int, writer: SchemaVersion, reader: SchemaVersion
) -> dict[str, Any]:
    stream = io.BytesIO(data)
    stream.seek(start)
    reader_schema = None if writer is reader else reader.parsed
    try:
        record = schemaless_reader(stream, writer.parsed, reader_schema)
    except SchemaResolutionError as exc:
        raise schema_mismatch(writer.label, reader) from exc
    except CORRUPT_BODY_ERRORS as exc:
        raise DecodeError(f"corrupt or truncated {writer.label} body: {exc!r}") from exc
    trailing = len(data) - stream.tell()
    if trailing:
        raise DecodeError(f"{trailing} bytes left over after the {writer.label} body")
    if not isinstance(record, dict):
        raise DecodeError(f"{writer.label} body decoded to {type(record).__name__}, not a record")
    return reader.packing.unpack(record) if reader.packing else record


def schema_mismatch(writer_label: str, reader: SchemaVersion) -> DecodeError:
    return DecodeError(f"schema mismatch: {writer_label} cannot be read as {reader.label}")


def mismatch_error(
    version: SchemaVersion, record: Mapping[str, Any], exc: Exception
) -> EncodeError:
    """Validating is ten times slower than writing, so it only runs to explain a failed write.

    Packed fields are validated in place, against their own types."""
    if version.packing:
        record = {**record, version.packing.field: b""}
    try:
        validate(record, version.parsed, raise_errors=True)
    except ValidationError as invalid:
        detail = "; ".join(_describe(invalid.errors))
    else:
        detail = str(exc)
    return EncodeError(f"record does not match {version.label}: {detail}")


def _describe(errors: Iterable[ValidationErrorData]) -> list[str]:
    """One line per field: a union reports every branch it tried, merged here."""
    expected: dict[str, list[str]] = {}
    got: dict[str, str] = {}
    for error in errors:
        expected.setdefault(error.field, []).append(_type_name(error.schema))
        value = repr(error.datum)
        if len(value) > 60:
            value = value[:57] + "..."
        got[error.field] = f"{type(error.datum).__name__} {value}"
    return [
        f"{field or '(record)'} expects {' or '.join(types)}, got {got[field]}"
        for field, types in expected.items()
    ]


def _type_name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    if isinstance(schema, list):
        return "union"
    return str(schema)
