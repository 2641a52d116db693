"""Tags: both input forms, reserved keys, stringifying, trimming, duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.stages.normalize import NormalizeSettings
from tests.unit.test_normalize_schema import kinds, normalized


def _tags(value: Any, settings: NormalizeSettings | None = None) -> list[tuple[str, str]]:
    event = normalized({"message": "m", "tags": value}, settings or NormalizeSettings())
    return [(t["key"], t["value"]) for t in event["tags"]]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"a": "1", "b": "2"}, [("a", "1"), ("b", "2")]),
        ([["a", "1"], ["b", "2"]], [("a", "1"), ("b", "2")]),
        ({"n": 5, "f": 1.5, "t": True, "z": None}, [("n", "5"), ("f", "1.5"), ("t", "true")]),
        ([["a", "1"], ["a", "2"]], [("a", "2")]),
        ([["a", "1"], ["b", "x"], ["a", "2"]], [("b", "x"), ("a", "2")]),
        ({" padded ": "v"}, [("padded", "v")]),
        ({"release": "1", "Level": "x", "environment": "e", "ok": "y"}, [("ok", "y")]),
        ({"user": "u", "transaction": "t", "dist": "d"}, []),
        ({"k" * 40: "v"}, [("k" * 29 + "...", "v")]),
        ({"k": "v" * 250}, [("k", "v" * 197 + "...")]),
        ({"db_password": "hunter2"}, [("db_password", "[Filtered]")]),
        ([["auth_token", "abc"]], [("auth_token", "[Filtered]")]),
        ({}, []),
        ([], []),
        (None, []),
    ],
)
def test_tags(tags: Any, expected: list[tuple[str, str]]) -> None:
    assert _tags(tags) == expected


@pytest.mark.parametrize(
    ("tags", "errors"),
    [
        ("a=b", ["bad_type"]),
        (5, ["bad_type"]),
        ([["a"]], ["bad_type"]),
        ([[1, "x"]], ["bad_type"]),
        (["a", "b"], ["bad_type", "bad_type"]),
        ({"a": {"nested": 1}}, ["bad_type"]),
        ({"a": [1]}, ["bad_type"]),
        ({"": "v"}, ["invalid_tag"]),
        ({"release": "1"}, ["reserved_tag"]),
        ({"k" * 40: "v"}, ["value_too_long"]),
    ],
)
def test_unusable_tags_are_dropped_with_an_error(tags: Any, errors: list[str]) -> None:
    event = normalized({"message": "m", "tags": tags})
    assert kinds(event) == errors


def test_limits_and_reserved_keys_are_configurable() -> None:
    settings = NormalizeSettings(
        max_tag_key_chars=8, max_tag_value_chars=10, reserved_tag_keys=("Internal",)
    )
    tags = {"internal": "x", "release": "1.0", "a_long_key": "a much longer value"}
    assert _tags(tags, settings) == [("release", "1.0"), ("a_lon...", "a much ...")]
