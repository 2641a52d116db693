"""The event's scalar attributes: platform, level, release, dist, environment, SDK and message.

Policy for every known field: a value of the wrong JSON type is dropped with a ``bad_type``
error and the default is used; the event stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.stages.normalize.results import ErrorLog
from pipeline.stages.normalize.trim import trim_logged

LEVELS = frozenset({"fatal", "error", "warning", "info", "debug"})
_LEVEL_ALIASES = {"warn": "warning", "critical": "fatal", "log": "info"}
DEFAULT_LEVEL = "error"


def optional_str(value: Any, path: str, limit: int, errors: ErrorLog) -> str | None:
    """A stripped, trimmed string; None when absent or empty, or (recorded) of the wrong type."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors.bad_type(path, value)
        return None
    value = value.strip()
    return trim_logged(value, limit, path, errors) if value else None


def platform(value: Any, default: str, limit: int, errors: ErrorLog) -> str:
    found = optional_str(value, "platform", limit, errors)
    return found.lower() if found else default


def level(value: Any, errors: ErrorLog) -> str:
    if value is None:
        return DEFAULT_LEVEL
    if not isinstance(value, str):
        errors.bad_type("level", value)
        return DEFAULT_LEVEL
    name = value.strip().lower()
    name = _LEVEL_ALIASES.get(name, name)
    if name not in LEVELS:
        errors.add("invalid_level", repr(value)[:64])
        return DEFAULT_LEVEL
    return name


@dataclass(frozen=True, slots=True)
class Sdk:
    name: str | None = None
    version: str | None = None


def sdk(value: Any, limit: int, errors: ErrorLog) -> tuple[Sdk, dict[str, Any] | None]:
    """Name and version, plus what else the SDK object held (kept in extra_json)."""
    if value is None:
        return Sdk(), None
    if not isinstance(value, dict):
        errors.bad_type("sdk", value)
        return Sdk(), None
    name = optional_str(value.pop("name", None), "sdk.name", limit, errors)
    version = optional_str(value.pop("version", None), "sdk.version", limit, errors)
    return Sdk(name, version), value or None


def message(value: Any, logentry: Any, limit: int, errors: ErrorLog) -> str:
    """From ``logentry`` or ``message``: a string or a {formatted, message} object (formatted
    preferred, ``message`` being the template)."""
    for path, candidate in (("logentry", logentry), ("message", value)):
        if candidate is None:
            continue
        if isinstance(candidate, str):
            return trim_logged(candidate, limit, path, errors)
        if isinstance(candidate, dict):
            formatted = _text(candidate.get("formatted"), f"{path}.formatted", errors)
            template = _text(candidate.get("message"), f"{path}.message", errors)
            if formatted or template:
                return trim_logged(formatted or template, limit, path, errors)
            continue
        errors.bad_type(path, candidate)
    return ""


def _text(value: Any, path: str, errors: ErrorLog) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    errors.bad_type(path, value)
    return ""
