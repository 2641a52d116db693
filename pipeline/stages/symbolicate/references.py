"""Where a fetched minified file says its source map is, and inline (``data:``) maps."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from pipeline.adapters.artifacts.jsfiles import source_comments


def sourcemap_reference(headers: Mapping[str, str], body: bytes) -> str | None:
    """The ``SourceMap`` (or ``X-SourceMap``) header, else the ``sourceMappingURL`` comment."""
    header = headers.get("SourceMap") or headers.get("X-SourceMap")
    if header:
        return header.strip()
    return source_comments(body)[0]


def is_data_url(reference: str) -> bool:
    return reference[:5].lower() == "data:"


def decode_data_url(reference: str) -> bytes:
    """The payload of a ``data:[<type>][;base64],<data>`` URL; raises ValueError if malformed."""
    header, comma, payload = reference[5:].partition(",")
    if not comma:
        raise ValueError("data: URL without a comma")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(unquote_to_bytes(payload), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"bad base64 in data: URL: {exc}") from None
    return unquote_to_bytes(payload)
