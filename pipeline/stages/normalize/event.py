"""normalize_event: one raw event record in, a processed event, a filter or a rejection out.

Pure and thread-safe: no I/O; time comes in as ``now_ms``. The only state shared between
events is scrub's bounded cache of per-key verdicts, which a race can only recompute.

Wrong types, the policy: a known field of the wrong JSON type is dropped with a ``bad_type``
error on the event (and its default used). Only when an event that sent an ``exception``,
``logentry`` or ``message`` is left with neither an exception nor a message does it stop making
sense: then it is Invalid with reason ``bad_type:<field>``. Payload-level problems (size,
encoding, syntax, not an object, nesting) are Invalid with their own reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from pipeline.stages.normalize import attributes
from pipeline.stages.normalize.debug_images import sourcemap_images
from pipeline.stages.normalize.drop_rules import matching_rule
from pipeline.stages.normalize.grouping import grouping_components, grouping_hash, parse_fingerprint
from pipeline.stages.normalize.ids import choose_event_id, parse_event_id
from pipeline.stages.normalize.payload import Parsed, Rejected, parse_payload
from pipeline.stages.normalize.results import (
    STAGE,
    ErrorLog,
    Filtered,
    Invalid,
    Normalized,
    Result,
)
from pipeline.stages.normalize.scrub import scrub_payload
from pipeline.stages.normalize.settings import NormalizeSettings
from pipeline.stages.normalize.stacktrace import normalize_exceptions
from pipeline.stages.normalize.tags import normalize_tags
from pipeline.stages.normalize.timestamps import event_timestamp_ms

# Payload keys that are dropped because a typed field is derived from them instead.
_DERIVED = ("type",)
# Fields that carry what the event is about; see the module docstring.
_CONTENT = ("exception", "logentry", "message")
_LONG = range(-(2**63), 2**63)


def normalize_event(raw: Mapping[str, Any], settings: NormalizeSettings, now_ms: int) -> Result:
    """Normalize one decoded raw_event record; never raises for any payload."""
    project_id, received_at_ms = _long(raw.get("project_id")), _long(raw.get("received_at_ms"))
    edge_id = raw.get("event_id")
    if project_id is None or received_at_ms is None:
        detail = "project_id and received_at_ms must be 64-bit integers"
        known_id = parse_event_id(edge_id) or ""
        received = now_ms if received_at_ms is None else received_at_ms
        return Invalid("bad_record", known_id, project_id or 0, received, detail)
    parsed = parse_payload(raw.get("payload"), settings.max_payload_bytes, settings.max_depth)
    if isinstance(parsed, Rejected):
        known_id = parse_event_id(edge_id) or ""
        return Invalid(parsed.reason, known_id, project_id, received_at_ms, parsed.detail)
    return _normalize(parsed, edge_id, project_id, received_at_ms, settings, now_ms)


def _normalize(
    parsed: Parsed,
    edge_id: Any,
    project_id: int,
    received_at_ms: int,
    settings: NormalizeSettings,
    now_ms: int,
) -> Result:
    errors = ErrorLog(settings.max_errors)
    # Taken out before scrubbing: a hex id can hold a Luhn-valid digit run (a "card number").
    sdk_event_id = parsed.obj.pop("event_id", None)
    payload, report = scrub_payload(
        parsed.obj, parsed.data, settings.scrub_key_re, settings.scrub_card_numbers
    )
    if report.non_finite_numbers:
        errors.add("non_finite_number", f"{report.non_finite_numbers} became null")
    if report.invalid_unicode:
        errors.add("invalid_unicode", f"{report.invalid_unicode} strings repaired")

    event_id = choose_event_id(edge_id, sdk_event_id, errors)
    timestamp_ms = event_timestamp_ms(
        payload.pop("timestamp", None),
        received_at_ms,
        settings.max_future_s,
        settings.max_past_s,
        errors,
    )
    level = attributes.level(payload.pop("level", None), errors)
    limit = settings.max_attribute_chars
    sdk, sdk_rest = attributes.sdk(payload.pop("sdk", None), limit, errors)
    rule = matching_rule(
        settings.drop_rules,
        sdk_name=sdk.name,
        sdk_version=sdk.version,
        level=level,
        timestamp_ms=timestamp_ms,
        now_ms=now_ms,
    )
    if rule is not None:
        return Filtered(rule.name, event_id, project_id, received_at_ms)

    content = {name: payload.pop(name, None) for name in _CONTENT}
    exceptions = normalize_exceptions(content["exception"], settings, errors)
    message = attributes.message(
        content["message"], content["logentry"], settings.max_message_chars, errors
    )
    if not exceptions and not message:
        unusable = next((name for name, value in content.items() if _given(value)), None)
        if unusable is not None:
            detail = "; ".join(f"{e['kind']} {e['detail']}" for e in errors.entries)[:500]
            reason = f"bad_type:{unusable}"
            return Invalid(reason, event_id, project_id, received_at_ms, detail)

    fingerprint = parse_fingerprint(payload.pop("fingerprint", None), limit, errors)
    debug_images, debug_rest = sourcemap_images(
        payload.pop("debug_meta", None), settings.max_frame_field_chars, errors
    )
    event = {
        "event_id": event_id,
        "project_id": project_id,
        "received_at_ms": received_at_ms,
        "timestamp_ms": timestamp_ms,
        "stage_times_ms": {STAGE: now_ms},
        "platform": attributes.platform(
            payload.pop("platform", None), settings.default_platform, limit, errors
        ),
        "level": level,
        "event_type": "error" if exceptions else "default",
        "release": attributes.optional_str(payload.pop("release", None), "release", limit, errors),
        "dist": attributes.optional_str(payload.pop("dist", None), "dist", limit, errors),
        "environment": attributes.optional_str(
            payload.pop("environment", None), "environment", limit, errors
        ),
        "sdk_name": sdk.name,
        "sdk_version": sdk.version,
        "message": message,
        "tags": normalize_tags(payload.pop("tags", None), settings, errors),
        "fingerprint": fingerprint,
        "grouping_hash": grouping_hash(grouping_components(fingerprint, exceptions, message)),
        "exceptions": exceptions,
        "debug_images": debug_images,
        "errors": errors.entries,
        "extra_json": _rest_as_json(payload, sdk_rest, debug_rest, report.tiny_floats > 0),
    }
    return Normalized(event)


def _rest_as_json(
    payload: dict[str, Any],
    sdk_rest: dict[str, Any] | None,
    debug_rest: dict[str, Any] | None,
    tiny_floats: bool,
) -> str:
    for key in _DERIVED:
        payload.pop(key, None)
    if sdk_rest:
        payload["sdk"] = sdk_rest
    if debug_rest:
        payload["debug_meta"] = debug_rest
    # orjson writes floats below 1e-4 unlike json (1e-5, not 1e-05): keep extra_json's bytes.
    if not tiny_floats:
        try:
            return orjson.dumps(payload).decode()
        except TypeError:  # integers past 64 bits, which only json writes
            pass
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _given(value: Any) -> bool:
    """Whether the SDK sent something non-empty (``{"values": []}`` counts as nothing)."""
    if isinstance(value, dict) and "values" in value:
        value = value["values"]
    return value is not None and value != "" and value != [] and value != {}


def _long(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value in _LONG:
        return value
    return None
