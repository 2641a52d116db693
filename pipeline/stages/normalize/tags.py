"""Tags as ordered key/value pairs, from either the object or the list-of-pairs form.

Reserved keys (the event has typed fields for them) are dropped; scalars are stringified the
JSON way (true, 1.5); null values are skipped; containers are dropped with an error; keys and
values are trimmed; of duplicate keys the last wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pipeline.stages.normalize.results import ErrorLog
from pipeline.stages.normalize.settings import NormalizeSettings
from pipeline.stages.normalize.trim import trim_logged


def normalize_tags(
    value: Any, settings: NormalizeSettings, errors: ErrorLog
) -> list[dict[str, str]]:
    tags: dict[str, str] = {}
    for key, raw in _pairs(value, errors):
        key = key.strip()
        if not key:
            errors.add("invalid_tag", "empty key")
            continue
        if key.lower() in settings.reserved_tags:
            errors.add("reserved_tag", key)
            continue
        text = _stringify(raw, key, errors)
        if text is None:
            continue
        key = trim_logged(key, settings.max_tag_key_chars, "tags", errors)
        tags.pop(key, None)
        tags[key] = trim_logged(text, settings.max_tag_value_chars, f"tags.{key}", errors)
    return [{"key": k, "value": v} for k, v in tags.items()]


def _pairs(value: Any, errors: ErrorLog) -> Iterable[tuple[str, Any]]:
    if value is None:
        return ()
    if isinstance(value, dict):
        return value.items()
    if not isinstance(value, list):
        errors.bad_type("tags", value)
        return ()
    pairs = []
    for i, item in enumerate(value):
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
            pairs.append((item[0], item[1]))
        else:
            errors.bad_type(f"tags[{i}]", item)
    return pairs


def _stringify(value: Any, key: str, errors: ErrorLog) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    errors.bad_type(f"tags.{key}", value)
    return None
