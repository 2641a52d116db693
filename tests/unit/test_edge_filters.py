"""Events the edge drops: too old, or from an accept-and-drop SDK release."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.edge.filters import SDK_DROPPED, TOO_OLD, EventFilter
from pipeline.edge.settings import DroppedSdk

NOW_MS = 1_800_000_000_000
DAY_S = 86400


def test_old_events_are_too_old_fresh_and_undated_ones_kept() -> None:
    rules = EventFilter(max_age_s=DAY_S, dropped_sdks=())
    assert rules.reason({"timestamp": NOW_MS / 1000 - 2 * DAY_S}, NOW_MS) == TOO_OLD
    assert rules.reason({"timestamp": "2020-01-01T00:00:00Z"}, NOW_MS) == TOO_OLD
    assert rules.reason({"timestamp": NOW_MS / 1000 - 60}, NOW_MS) is None
    assert rules.reason({"timestamp": "yesterday"}, NOW_MS) is None
    assert rules.reason({}, NOW_MS) is None


def test_sdk_releases_in_the_range_are_dropped() -> None:
    rules = EventFilter(
        max_age_s=DAY_S,
        dropped_sdks=(DroppedSdk(name="sentry.python", versions="<2.1"), DroppedSdk(name="bad")),
    )

    def sdk(name: str, version: str) -> dict[str, object]:
        return {"sdk": {"name": name, "version": version}}

    assert rules.reason(sdk("sentry.python", "2.0.5"), NOW_MS) == SDK_DROPPED
    assert rules.reason(sdk("sentry.python", "2.1.0"), NOW_MS) is None
    assert rules.reason(sdk("sentry.python", "not-a-version"), NOW_MS) is None
    assert rules.reason(sdk("bad", "anything"), NOW_MS) == SDK_DROPPED


def test_a_bad_specifier_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="not a version specifier"):
        DroppedSdk(name="x", versions="about 2")
