"""What a minified JavaScript file or a source map says about itself.

A minified file names its map in a ``//# sourceMappingURL=`` comment and may carry a
``//# debugId=`` comment; a source map is JSON (version 3) and may carry ``debugId``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

ArtifactKind = Literal["minified_source", "source_map"]

_COMMENT = re.compile(rb"^[ \t]*//[#@][ \t]*(sourceMappingURL|debugId)=[ \t]*(\S+)[ \t]*$", re.M)
# A map may start with this line to defeat cross-site script inclusion (source map spec).
_XSSI_PREFIX = b")]}'"


class InvalidArtifact(ValueError):
    """The bytes are not what their name claims (a ``.map`` that is not a source map, ...)."""


@dataclass(frozen=True)
class ArtifactInfo:
    kind: ArtifactKind
    debug_id: str | None
    sourcemap_url: str | None
    """For a minified source: where its source map is, as written in the file."""


def normalize_debug_id(text: str) -> str | None:
    """The canonical (lowercase, hyphenated) form of a UUID debug id, or None if it is not one."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


def source_comments(source: bytes) -> tuple[str | None, str | None]:
    """(sourceMappingURL, debugId) from the file's comments; the last of each kind wins."""
    found: dict[bytes, str] = {}
    for match in _COMMENT.finditer(source):
        found[match.group(1)] = match.group(2).decode("utf-8", "replace")
    return found.get(b"sourceMappingURL"), found.get(b"debugId")


def parse_source_map(data: bytes) -> dict[str, Any]:
    """The map as JSON; raises InvalidArtifact unless it is a version 3 (or index) source map."""
    if data.startswith(_XSSI_PREFIX):
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArtifact(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("version") != 3:
        raise InvalidArtifact("not a version 3 source map")
    if not isinstance(obj.get("mappings"), str) and not isinstance(obj.get("sections"), list):
        raise InvalidArtifact("a source map needs 'mappings' or 'sections'")
    return obj


def inspect_artifact(name: str, data: bytes) -> ArtifactInfo:
    """Classifies by name (``*.map`` is a source map) and checks that the content agrees."""
    if name.endswith(".map"):
        source_map = parse_source_map(data)
        raw = source_map.get("debugId", source_map.get("debug_id"))
        return ArtifactInfo("source_map", _checked_debug_id(raw), None)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArtifact("not UTF-8 text, so not a JavaScript file") from None
    sourcemap_url, raw_debug_id = source_comments(data)
    return ArtifactInfo("minified_source", _checked_debug_id(raw_debug_id), sourcemap_url)


def _checked_debug_id(raw: object) -> str | None:
    if raw is None:
        return None
    debug_id = normalize_debug_id(raw) if isinstance(raw, str) else None
    if debug_id is None:
        raise InvalidArtifact(f"debug id {raw!r} is not a UUID")
    return debug_id
