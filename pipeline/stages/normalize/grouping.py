"""Fingerprint and grouping hash: which events are "the same error".

Default components: for an exception event, each exception's type plus its in-app frames'
(module or file, function) — never line numbers, so the same error moved by an edit still groups
together; an exception without usable frames adds its value with variable parts masked. Without
exceptions, the message with numbers and hex ids masked.
A custom fingerprint replaces this; ``{{ default }}`` inside it expands to the default components.
The functions read the processed-event shape, so a later stage (after symbolication) can call
``grouping_hash_of`` again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.stages.normalize.results import ErrorLog
from pipeline.stages.normalize.trim import trim

DEFAULT = "{{ default }}"
_DEFAULT_RE = re.compile(r"\{\{\s*default\s*\}\}", re.IGNORECASE)
_VARIABLE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\b0x[0-9a-f]+\b"
    r"|\b[0-9a-f]{8,}\b"
    r"|\d+(?:\.\d+)?",
    re.IGNORECASE,
)


def parse_fingerprint(value: Any, limit: int, errors: ErrorLog) -> list[str]:
    """The SDK's fingerprint as strings (numbers stringified), or ``[DEFAULT]``."""
    if value is None:
        return [DEFAULT]
    if not isinstance(value, list):
        errors.bad_type("fingerprint", value)
        return [DEFAULT]
    parts = []
    for i, part in enumerate(value):
        if isinstance(part, str):
            parts.append(trim(part, limit))
        elif isinstance(part, int | float) and not isinstance(part, bool):
            parts.append(json.dumps(part))
        else:
            errors.bad_type(f"fingerprint[{i}]", part)
    return parts or [DEFAULT]


def mask_variables(text: str) -> str:
    """``text`` with numbers, hex ids and UUIDs replaced by a placeholder."""
    return _VARIABLE.sub("<var>", text)


def default_components(exceptions: Sequence[Mapping[str, Any]], message: str) -> list[str]:
    if not exceptions:
        return ["message", mask_variables(message)]
    components = ["exception"]
    for exc in exceptions:
        components.append(f"type:{exc['type']}")
        frames = exc["frames"]
        in_app = [f for f in frames if f["in_app"]]
        located = [
            f"frame:{f['module'] or f['filename'] or f['abs_path'] or ''}:{f['function'] or ''}"
            for f in in_app or frames
            if f["module"] or f["filename"] or f["abs_path"] or f["function"]
        ]
        components.extend(located or [f"value:{mask_variables(exc['value'])}"])
    return components


def grouping_components(
    fingerprint: Sequence[str], exceptions: Sequence[Mapping[str, Any]], message: str
) -> list[str]:
    components: list[str] = []
    for part in fingerprint:
        if _DEFAULT_RE.fullmatch(part.strip()):
            components.extend(default_components(exceptions, message))
        else:
            components.append(f"custom:{part}")
    return components


def grouping_hash(components: Sequence[str]) -> str:
    """32 hex chars (md5; not for security) of the components, unambiguously serialized."""
    encoded = json.dumps(components, ensure_ascii=False).encode("utf-8")
    return hashlib.md5(encoded, usedforsecurity=False).hexdigest()


def grouping_hash_of(event: Mapping[str, Any]) -> str:
    """The grouping hash of a processed event (e.g. again after symbolication)."""
    components = grouping_components(event["fingerprint"], event["exceptions"], event["message"])
    return grouping_hash(components)
