"""Turn the SDK's bytes into a JSON object, refusing hostile input before it costs much.

The size is checked before anything else, and the nesting depth before ``json.loads`` (which
recurses once per level) by a scan made only of C-speed bytes operations: drop escapes, keep
only brackets and quotes, drop the brackets inside string literals, then peel off the innermost
bracket pairs one level at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.stages.normalize.results import json_type

# Structure only: both kinds of brackets as "[" and "]" (a mismatch is json.loads' to find), and
# quotes; every other byte deleted.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
DIGITS_AS_ZERO = bytes(ord("0") if chr(b) in "0123456789" else ord("x") for b in range(256))
"""For bytes.translate: digits to "0", every other byte to "x", to find digit runs at C speed."""
_LONG_NUMBER = b"0" * 19


@dataclass(frozen=True, slots=True)
class Parsed:
    obj: dict[str, Any]
    data: bytes  # the JSON text it came from


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str = ""


def parse_payload(payload: Any, max_bytes: int, max_depth: int) -> Parsed | Rejected:
    """The payload as a JSON object, or why it is not one (never raises)."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        return Rejected("bad_record", f"payload is {type(payload).__name__}, not bytes")
    size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
    if size > max_bytes:
        return Rejected("too_large", f"{size} bytes, limit {max_bytes}")
    data = bytes(payload)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Rejected("invalid_utf8", f"at byte {exc.start}")
    depth = max_nesting(data, max_depth)
    if depth is None:
        return Rejected("not_json", "unbalanced brackets")
    if depth > max_depth:
        return Rejected("too_deep", f"nesting over {max_depth}")
    try:
        value = _loads(text, data)
    except (ValueError, RecursionError) as exc:
        return Rejected("not_json", str(exc)[:200])
    if not isinstance(value, dict):
        return Rejected("not_an_object", f"top level is {json_type(value)}")
    return Parsed(value, data)


def max_nesting(data: bytes, limit: int) -> int | None:
    """The deepest bracket nesting outside string literals, ``limit + 1`` when deeper than
    ``limit``, None when the brackets do not balance (then it is not JSON)."""
    # Backslashes pair up from the left inside strings (and never occur outside them in JSON),
    # so this removes exactly the escaped quotes.
    structure = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = structure.translate(_BRACKETS, _NOT_STRUCTURE)
    # Dropping an adjacent pair of quotes removes a string without brackets or merges two strings
    # with no brackets between them: either way the brackets outside strings stay the same.
    structure = structure.replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    # One replace pass removes exactly the pairs that are innermost before it: one level.
    depth = 0
    while structure:
        if depth == limit:
            return limit + 1
        peeled = structure.replace(b"[]", b"")
        if len(peeled) == len(structure):
            return None
        structure = peeled
        depth += 1
    return depth


def _loads(text: str, data: bytes) -> Any:
    """orjson for the common case; json for the extensions SDKs send (NaN, Infinity, lone
    surrogates), which orjson refuses and scrubbing fixes, and for numbers of 19 digits or more,
    which orjson would turn into floats where json keeps integers past 64 bits exact."""
    if _LONG_NUMBER not in data.translate(DIGITS_AS_ZERO):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
