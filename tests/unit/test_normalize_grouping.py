"""Fingerprint and grouping hash: same error groups together, different errors do not."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from pipeline.stages.normalize import grouping_hash_of
from pipeline.stages.normalize.grouping import mask_variables
from tests.unit.test_normalize_schema import frame, kinds, normalized, python_event


def _hash(payload: dict[str, Any]) -> str:
    return str(normalized(payload)["grouping_hash"])


def _with_frames(frames: list[dict[str, Any]], exc_type: str = "ValueError") -> dict[str, Any]:
    return {"exception": [{"type": exc_type, "value": "v", "stacktrace": {"frames": frames}}]}


def _moved(payload: dict[str, Any], delta: int) -> dict[str, Any]:
    moved = copy.deepcopy(payload)
    for f in moved["exception"]["values"][0]["stacktrace"]["frames"]:
        f["lineno"] += delta
    return moved


def test_the_same_error_at_different_lines_groups_together() -> None:
    event = python_event()
    assert _hash(event) == _hash(_moved(event, 7))


def test_a_different_exception_type_does_not() -> None:
    assert _hash(python_event(exc_type="ValueError")) != _hash(python_event(exc_type="KeyError"))


def test_the_exception_value_does_not_matter_when_there_are_frames() -> None:
    one = _with_frames([frame(1)])
    other = copy.deepcopy(one)
    other["exception"][0]["value"] = "something else entirely"
    assert _hash(one) == _hash(other)


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ([frame(1), frame(2)], [frame(1), frame(3)], False),  # another in-app function
        ([frame(1), frame(2, in_app=False)], [frame(1), frame(3, in_app=False)], True),
        ([frame(1, in_app=False)], [frame(2, in_app=False)], False),  # no in-app: all frames
        ([frame(1)], [{**frame(1), "module": None}], False),  # module, else filename
        ([{**frame(1), "filename": "x.py"}], [{**frame(1), "filename": "y.py"}], True),
        ([{**frame(1), "context_line": "a"}], [{**frame(1), "context_line": "b"}], True),
    ],
)
def test_frames_that_count(
    one: list[dict[str, Any]], other: list[dict[str, Any]], same: bool
) -> None:
    assert (_hash(_with_frames(one)) == _hash(_with_frames(other))) is same


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("User 123 not found", "User 456 not found", True),
        ("Order 0xdeadbeef failed", "Order 0x1f failed", True),
        (
            "job 0b0e3f2a-4c5d-4e6f-8a9b-0c1d2e3f4a5b died",
            "job 11111111-2222-3333-4444-555555555555 died",
            True,
        ),
        ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8", "commit 3a4b5c6d7e8f", True),
        ("took 1.5 s", "took 20 s", True),
        ("User not found", "Order not found", False),
    ],
)
def test_messages_group_without_their_variable_parts(one: str, other: str, same: bool) -> None:
    assert (_hash({"message": one}) == _hash({"message": other})) is same


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [("bad value 1", "bad value 2", True), ("bad value", "other problem", False)],
)
def test_exceptions_without_frames_group_by_their_masked_value(
    one: str, other: str, same: bool
) -> None:
    first = _hash({"exception": [{"type": "E", "value": one}]})
    assert (first == _hash({"exception": [{"type": "E", "value": other}]})) is same


def test_message_and_exception_events_do_not_collide() -> None:
    assert _hash({"message": "E"}) != _hash({"exception": [{"type": "E"}]})


def test_a_custom_fingerprint_replaces_the_default() -> None:
    a = _hash({**python_event(exc_type="A"), "fingerprint": ["db-down"]})
    b = _hash({**python_event(exc_type="B"), "fingerprint": ["db-down"]})
    c = _hash({**python_event(exc_type="A"), "fingerprint": ["db-slow"]})
    assert a == b != c


@pytest.mark.parametrize("default", ["{{ default }}", "{{default}}", " {{  DEFAULT }} "])
def test_default_inside_a_fingerprint_expands(default: str) -> None:
    def grouped(exc_type: str, lines: int, extra: str) -> str:
        event = _moved(python_event(exc_type=exc_type), lines)
        return _hash({**event, "fingerprint": [default, extra]})

    assert grouped("A", 0, "x") == grouped("A", 5, "x")
    assert grouped("A", 0, "x") != grouped("B", 0, "x")
    assert grouped("A", 0, "x") != grouped("A", 0, "y")
    assert grouped("A", 0, "x") != _hash(python_event(exc_type="A"))


@pytest.mark.parametrize(
    ("fingerprint", "stored", "errors"),
    [
        (None, ["{{ default }}"], []),
        (["a", 1, 2.5], ["a", "1", "2.5"], []),
        (["a", None, {}], ["a"], ["bad_type", "bad_type"]),
        ([], ["{{ default }}"], []),
        ("a", ["{{ default }}"], ["bad_type"]),
        (["x" * 300], ["x" * 197 + "..."], []),
    ],
)
def test_the_fingerprint_is_stored(fingerprint: Any, stored: list[str], errors: list[str]) -> None:
    event = normalized({"message": "m", "fingerprint": fingerprint})
    assert event["fingerprint"] == stored
    assert kinds(event) == errors


def test_the_hash_can_be_recomputed_from_the_processed_event() -> None:
    for payload in (python_event(), {"message": "x 1"}, {"fingerprint": ["a"], "message": "m"}):
        event = normalized(payload)
        assert re.fullmatch("[0-9a-f]{32}", event["grouping_hash"])
        assert grouping_hash_of(event) == event["grouping_hash"]


def test_mask_variables() -> None:
    assert mask_variables("id 42 at 0xff, 1.5s") == "id <var> at <var>, <var>s"
