"""Every released version of every schema in ``schemas/<name>/v<N>.avsc``, parsed once."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastavro.schema import (
    SchemaParseException,
    fingerprint,
    parse_schema,
    to_parsing_canonical_form,
)
from fastavro.types import Schema

from pipeline.adapters.kafka.codec.packing import Packing, PackingError, packing_of
from pipeline.errors import UserError

_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.avsc")


class SchemaLoadError(UserError):
    """The schemas directory is missing or holds a file that is not a valid versioned schema."""


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    text: str
    parsed: Schema
    fingerprint: bytes
    """CRC-64-AVRO of the Parsing Canonical Form, in the little-endian byte order of the wire."""
    packing: Packing | None = None
    """Fields this version writes as one JSON object (codec/packing.py)."""

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class SchemaCatalog:
    directory: Path
    versions: Mapping[str, tuple[SchemaVersion, ...]]
    """Schema name to its versions, oldest first."""
    by_fingerprint: Mapping[bytes, SchemaVersion]

    def latest(self, name: str) -> SchemaVersion:
        """The reader schema of ``name``; an unknown name is a bug in the caller."""
        try:
            return self.versions[name][-1]
        except KeyError:
            known = ", ".join(sorted(self.versions))
            raise LookupError(
                f"no schema named {name!r} in {self.directory} (known: {known})"
            ) from None


def load_catalog(directory: Path) -> SchemaCatalog:
    if not directory.is_dir():
        raise SchemaLoadError(f"schemas directory {directory} does not exist")
    versions: dict[str, tuple[SchemaVersion, ...]] = {}
    for schema_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        loaded = [_load_version(schema_dir.name, path) for path in schema_dir.glob("*.avsc")]
        if loaded:
            versions[schema_dir.name] = tuple(sorted(loaded, key=lambda v: v.version))
    if not versions:
        raise SchemaLoadError(f"schemas directory {directory} holds no <name>/v<N>.avsc files")
    by_fingerprint: dict[bytes, SchemaVersion] = {}
    for schema_versions in versions.values():
        for version in schema_versions:
            # Equal fingerprints mean equal canonical forms, which read the same bytes alike.
            by_fingerprint.setdefault(version.fingerprint, version)
    return SchemaCatalog(directory, versions, by_fingerprint)


def _load_version(name: str, path: Path) -> SchemaVersion:
    match = _VERSION_FILE.fullmatch(path.name)
    if match is None:
        raise SchemaLoadError(f"schema file {path} must be named v<N>.avsc (v1.avsc, v2.avsc, ...)")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
        parsed = parse_schema(raw)
        canonical = to_parsing_canonical_form(raw)
    except (ValueError, TypeError, SchemaParseException) as exc:
        raise SchemaLoadError(f"schema file {path} is not a valid Avro schema: {exc}") from None
    try:
        packing = packing_of(raw)
    except PackingError as exc:
        raise SchemaLoadError(f"schema file {path}: {exc}") from None
    digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return SchemaVersion(name, int(match.group(1)), text, parsed, digest, packing)
