"""Fields a schema version carries as one JSON object in a bytes field instead of field by field.

Walking nested arrays of records (exceptions -> frames) cost fastavro most of every hop between
stages; msgspec does the same parts several times faster, and with types built from the fields'
own Avro schema it checks them as strictly: wrong types, missing required fields and unknown
fields fail, defaults fill in. The packed fields stay in the schema with their defaults, so a
writer that packs nothing (an older version) is still read by schema resolution alone: an empty
packed field means the fields hold their own values.

A schema opts in with a ``bytes`` field that lists the fields it packs: ``"packs": [...]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

import msgspec

from pipeline.adapters.kafka.codec.base import DecodeError

PACKS = "packs"
_PRIMITIVES: dict[str, Any] = {
    "null": None,
    "boolean": bool,
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
    "bytes": bytes,
}


class PackingError(ValueError):
    """A schema's ``packs`` declaration that cannot work."""


@dataclass(frozen=True, slots=True)
class Packing:
    field: str
    """The bytes field holding the JSON object."""
    packs: tuple[str, ...]
    shape: type[msgspec.Struct]
    """The packed fields as a msgspec type, built from their Avro types."""
    decoder: msgspec.json.Decoder[msgspec.Struct]

    def pack(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record to write: packed fields removed (written as their defaults), the rest as is.

        A packed part of the wrong shape raises ValueError, as the Avro writer would.
        """
        wire = dict(record)
        packed = {name: wire.pop(name) for name in self.packs if name in wire}
        try:
            wire[self.field] = _ENCODER.encode(msgspec.convert(packed, self.shape))
        except msgspec.ValidationError as exc:
            raise ValueError(f"packed fields: {exc}") from exc
        return wire

    def unpack(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the fields' own schema describes it, without the packed field."""
        blob = record.pop(self.field, b"")
        if not blob:
            return record
        try:
            packed = self.decoder.decode(blob)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"packed field {self.field!r}: {exc}") from exc
        record.update(msgspec.to_builtins(packed, builtin_types=(bytes,)))
        return record


_ENCODER = msgspec.json.Encoder()


def packing_of(schema: Mapping[str, Any]) -> Packing | None:
    """The packing a record schema declares, checked; None if it packs nothing."""
    fields = schema.get("fields") if schema.get("type") == "record" else None
    if not isinstance(fields, list):
        return None
    declaring = [f for f in fields if isinstance(f, dict) and PACKS in f]
    if not declaring:
        return None
    if len(declaring) > 1:
        raise PackingError("only one field may declare packs")
    field = declaring[0]
    name, packs = field.get("name"), field[PACKS]
    if field.get("type") != "bytes" or field.get("default") != "":
        raise PackingError(f"field {name!r} declares packs, so it must be bytes with default ''")
    by_name = {f.get("name"): f for f in fields if isinstance(f, dict)}
    if not isinstance(packs, list) or not packs:
        raise PackingError(f"packs of {name!r} must be a non-empty list of field names")
    for packed in packs:
        if packed == name or "default" not in by_name.get(packed, {}):
            raise PackingError(
                f"packs of {name!r} names {packed!r}: not another field with a default"
            )
    namespace = str(schema.get("namespace", ""))
    shape = _record_type(f"{schema.get('name')}Packed", [by_name[p] for p in packs], namespace, {})
    return Packing(str(name), tuple(packs), shape, msgspec.json.Decoder(shape))


def _record_type(
    name: str, fields: list[dict[str, Any]], namespace: str, named: dict[str, Any]
) -> type[msgspec.Struct]:
    members: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for field in fields:
        kind = _type(field["type"], namespace, named)
        if "default" not in field:
            members.append((field["name"], kind))
        else:
            members.append((field["name"], kind, _default(field["default"])))
    # Struct values convert to plain dicts on decode, so fields keep Avro's names and order.
    return msgspec.defstruct(name, members, kw_only=True, forbid_unknown_fields=True)


def _type(avro: Any, namespace: str, named: dict[str, Any]) -> Any:
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro]
        full = avro if "." in avro else f"{namespace}.{avro}"
        if full not in named:
            raise PackingError(f"packed type {avro!r} is not defined before it is used")
        return named[full]
    if isinstance(avro, list):
        return reduce(or_, (_type(branch, namespace, named) for branch in avro))
    kind = avro.get("type")
    if kind == "array":
        return list[_type(avro["items"], namespace, named)]  # type: ignore[misc]
    if kind == "map":
        return dict[str, _type(avro["values"], namespace, named)]  # type: ignore[misc]
    if kind == "record":
        space = str(avro.get("namespace", namespace))
        record = _record_type(avro["name"], avro["fields"], space, named)
        named[f"{space}.{avro['name']}"] = record
        return record
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise PackingError(f"packed fields may not use Avro type {kind!r}")


def _default(value: Any) -> Any:
    """Mutable defaults become factories, as msgspec requires."""
    if isinstance(value, list | dict):
        return msgspec.field(default_factory=type(value))
    return value
