"""Events the edge answers 200 and drops, with a ``filtered`` outcome: too old to matter, or
from an SDK release configured as accept-and-drop (the SDK must not retry them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pipeline.edge.settings import DroppedSdk

TOO_OLD = "too_old"
SDK_DROPPED = "sdk_accept_and_drop"


def event_time_ms(event: dict[str, Any]) -> int | None:
    """The event's ``timestamp`` (seconds as a number, or RFC 3339), None when absent/unreadable."""
    value = event.get("timestamp")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return round(value * 1000)
    if isinstance(value, str):
        try:
            return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    return None


class EventFilter:
    def __init__(self, max_age_s: float, dropped_sdks: Sequence[DroppedSdk]) -> None:
        self._max_age_ms = max_age_s * 1000
        self._sdks = [(sdk.name, SpecifierSet(sdk.versions)) for sdk in dropped_sdks]

    def reason(self, event: dict[str, Any], now_ms: int) -> str | None:
        """Why the event is dropped, or None to keep it."""
        timestamp = event_time_ms(event)
        if timestamp is not None and now_ms - timestamp > self._max_age_ms:
            return TOO_OLD
        sdk = event.get("sdk")
        if self._sdks and isinstance(sdk, dict) and self._sdk_dropped(sdk):
            return SDK_DROPPED
        return None

    def _sdk_dropped(self, sdk: dict[str, Any]) -> bool:
        name, raw_version = sdk.get("name"), sdk.get("version")
        try:
            version = Version(raw_version) if isinstance(raw_version, str) else None
        except InvalidVersion:
            version = None
        for dropped_name, versions in self._sdks:
            if name != dropped_name:
                continue
            if not str(versions) or (version is not None and version in versions):
                return True
        return False
