"""Drop rules from settings: by SDK name and version, by age, by level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.stages.normalize import DropRule, Filtered, Normalized, NormalizeSettings
from tests.unit.test_normalize_schema import NOW_MS, run


def _event(
    sdk: str | None = "sentry.python", version: str | None = "1.40.0", **fields: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {"message": "m", **fields}
    if sdk is not None or version is not None:
        payload["sdk"] = {"name": sdk, "version": version}
    return payload


@pytest.mark.parametrize(
    ("rule", "payload", "dropped"),
    [
        ({"sdk_name": "sentry.python"}, _event(), True),
        ({"sdk_name": "sentry.python"}, _event("sentry.python.django"), False),
        ({"sdk_name": "sentry.javascript.*"}, _event("sentry.javascript.browser"), True),
        ({"sdk_name": "sentry.javascript.*"}, _event("sentry.python"), False),
        ({"sdk_name": "*"}, _event(None, None), False),
        ({"sdk_version": "< 2.0.0"}, _event(version="1.9.9"), True),
        ({"sdk_version": "< 2.0.0"}, _event(version="2.0.0"), False),
        ({"sdk_version": "< 2.0.0"}, _event(version="2.0.0-beta.1"), True),
        ({"sdk_version": "< 2.0.0"}, _event(version="not a version"), False),
        ({"sdk_version": "< 2.0.0"}, _event(version=None), False),
        ({"sdk_version": ">=1.0,<1.5"}, _event(version="1.4.2"), True),
        ({"sdk_version": "==1.0"}, _event(version="1.0.0"), True),
        ({"sdk_version": "!=1.40.0"}, _event(version="1.40.0"), False),
        ({"sdk_name": "sentry.python", "sdk_version": "<1"}, _event(version="0.9"), True),
        ({"sdk_name": "sentry.python", "sdk_version": "<1"}, _event(version="1.0"), False),
        ({"older_than_s": 1800}, _event(timestamp=NOW_MS / 1000 - 3600), True),
        ({"older_than_s": 1800}, _event(timestamp=NOW_MS / 1000 - 600), False),
        ({"levels": ["debug", "info"]}, _event(level="debug"), True),
        ({"levels": ["debug", "info"]}, _event(level="error"), False),
        ({"levels": ["debug"], "sdk_name": "other"}, _event(level="debug"), False),
    ],
)
def test_rules(rule: dict[str, Any], payload: dict[str, Any], dropped: bool) -> None:
    settings = NormalizeSettings(drop_rules=(DropRule(name="the_rule", **rule),))
    result = run(payload, settings)
    assert isinstance(result, Filtered if dropped else Normalized)
    if isinstance(result, Filtered):
        assert result.reason == "the_rule"


def test_age_is_measured_at_normalize_time() -> None:
    settings = NormalizeSettings(drop_rules=(DropRule(name="too_old", older_than_s=60),))
    payload = _event(timestamp=NOW_MS / 1000)
    assert isinstance(run(payload, settings, now_ms=NOW_MS + 30_000), Normalized)
    assert isinstance(run(payload, settings, now_ms=NOW_MS + 90_000), Filtered)


def test_the_first_matching_rule_names_the_reason() -> None:
    rules = (
        DropRule(name="debug_noise", levels=frozenset({"debug"})),
        DropRule(name="sdk_blocked", sdk_name="sentry.python"),
    )
    settings = NormalizeSettings(drop_rules=rules)
    first = run(_event(level="debug"), settings)
    assert isinstance(first, Filtered)
    assert first.reason == "debug_noise"
    result = run(_event(level="error", event_id="ab" * 16), settings, project_id=7)
    assert result == Filtered("sdk_blocked", "ab" * 16, 7, NOW_MS)


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "no_condition"},
        {"name": "bad_version", "sdk_version": "not a specifier"},
        {"name": "bad_operator", "sdk_version": "~=1.0"},
        {"name": "bad_bound", "sdk_version": "<1.0, >"},
        {"name": "Bad Name", "levels": ["debug"]},
        {"name": "bad_level", "levels": ["loud"]},
        {"name": "empty_levels", "levels": []},
        {"name": "negative_age", "older_than_s": -1},
        {"name": "typo", "sdk": "x"},
    ],
)
def test_invalid_rules_are_rejected(rule: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DropRule(**rule)


def test_rules_load_from_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "normalize:\n"
        "  max_payload_bytes: 4096\n"
        "  drop_rules:\n"
        "    - {name: sdk_blocked, sdk_name: 'legacy.*', sdk_version: '<2'}\n",
        encoding="utf-8",
    )
    settings = load_settings(config).normalize
    assert settings.max_payload_bytes == 4096
    result = run(_event("legacy.js", "1.0"), settings)
    assert isinstance(result, Filtered)
    assert result.reason == "sdk_blocked"


def test_a_bad_rule_in_the_settings_file_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "normalize:\n  drop_rules: [{name: x, sdk_version: '~=1'}]\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"normalize\.drop_rules\.0\.sdk_version"):
        load_settings(config)
