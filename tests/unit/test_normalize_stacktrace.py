"""Exceptions, frames, trimming, JavaScript frames and source-map debug images."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.stages.normalize import NormalizeSettings
from tests.unit.test_normalize_schema import (
    details,
    frame,
    javascript_event,
    kinds,
    normalized,
    python_event,
)


def _exception(frames: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"exception": {"values": [{"type": "E", **fields, "stacktrace": {"frames": frames}}]}}


def _functions(event: dict[str, Any]) -> list[str]:
    return [f["function"] for f in event["exceptions"][0]["frames"]]


def test_a_python_exception_is_typed() -> None:
    event = normalized(python_event(frames=3))
    (exc,) = event["exceptions"]
    assert (exc["type"], exc["module"]) == ("ValueError", "builtins")
    assert exc["frames"][1] == {
        "filename": "app/mod1.py",
        "abs_path": "/srv/app/mod1.py",
        "function": "func_1",
        "module": "app.mod1",
        "lineno": 11,
        "colno": None,
        "in_app": True,
        "context_line": "    result = compute(x, y)",
        "pre_context": ["def func():", "    x = 1"],
        "post_context": ["    return result"],
        "minified": None,
        "symbolication": None,
    }


@pytest.mark.parametrize(
    ("count", "limit", "kept"),
    [
        (250, 250, list(range(250))),
        (300, 250, list(range(125)) + list(range(175, 300))),
        (100, 10, [0, 1, 2, 3, 4, 95, 96, 97, 98, 99]),
        (100, 3, [0, 98, 99]),
    ],
)
def test_long_stack_traces_keep_their_first_and_last_frames(
    count: int, limit: int, kept: list[int]
) -> None:
    event = normalized(
        _exception([frame(i) for i in range(count)]), NormalizeSettings(max_frames=limit)
    )
    assert _functions(event) == [f"func_{i}" for i in kept]
    assert kinds(event) == ([] if count <= limit else ["too_many_frames"])


def test_context_lines_are_capped_nearest_first_and_trimmed() -> None:
    long_frame = {
        "function": "f",
        "context_line": "c" * 1000,
        "pre_context": [f"pre{i}" for i in range(20)],
        "post_context": [f"post{i}" for i in range(20)] + [None],
    }
    settings = NormalizeSettings(max_context_lines=3, max_context_line_chars=100)
    located = normalized(_exception([long_frame]), settings)["exceptions"][0]["frames"][0]
    assert located["context_line"] == "c" * 97 + "..."
    assert located["pre_context"] == ["pre17", "pre18", "pre19"]
    assert located["post_context"] == ["post0", "post1", "post2"]


def test_non_string_context_lines_become_empty() -> None:
    located = normalized(_exception([{"function": "f", "pre_context": [None, 1, "x"]}]))
    assert located["exceptions"][0]["frames"][0]["pre_context"] == ["", "", "x"]


@pytest.mark.parametrize(
    ("field", "setting", "limit"),
    [
        ("value", "max_exception_value_chars", 4096),
        ("type", "max_exception_type_chars", 256),
    ],
)
def test_exception_values_are_trimmed(field: str, setting: str, limit: int) -> None:
    event = normalized({"exception": [{field: "x" * (limit + 10)}]})
    assert len(event["exceptions"][0][field]) == limit
    assert details(event, "value_too_long") == [
        f"exception[0].{field}: {limit + 10} chars, limit {limit}"
    ]
    smaller = NormalizeSettings.model_validate({setting: 16})
    assert normalized({"exception": [{field: "y" * 20}]}, smaller)["exceptions"][0][field] == (
        "y" * 13 + "..."
    )


def test_messages_are_trimmed() -> None:
    event = normalized({"message": "m" * 10_000})
    assert event["message"] == "m" * 8189 + "..."
    assert kinds(event) == ["value_too_long"]
    assert normalized({"message": "m" * 50}, NormalizeSettings(max_message_chars=20))[
        "message"
    ] == ("m" * 17 + "...")


def test_chained_exceptions_keep_the_newest() -> None:
    chain = [{"type": f"E{i}"} for i in range(30)]
    event = normalized({"exception": {"values": chain}}, NormalizeSettings(max_exceptions=3))
    assert [e["type"] for e in event["exceptions"]] == ["E27", "E28", "E29"]
    assert kinds(event) == ["too_many_exceptions"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"type": "KeyError"}, ("KeyError", "")),
        ({"value": "boom"}, ("Error", "boom")),
        ({"stacktrace": {"frames": [{"function": "f"}]}}, ("Error", "")),
    ],
)
def test_exception_defaults(given: dict[str, Any], expected: tuple[str, str]) -> None:
    (exc,) = normalized({"exception": [given]})["exceptions"]
    assert (exc["type"], exc["value"]) == expected


def test_an_exception_with_nothing_in_it_is_dropped() -> None:
    event = normalized({"exception": [{}, {"type": "E"}]})
    assert [e["type"] for e in event["exceptions"]] == ["E"]
    assert kinds(event) == ["empty_exception"]


def test_the_bare_list_and_values_forms_are_equivalent() -> None:
    values = [{"type": "E", "value": "v"}]
    assert (
        normalized({"exception": values})["exceptions"]
        == (normalized({"exception": {"values": values}})["exceptions"])
    )


def test_a_bare_frames_list_is_accepted_as_stacktrace() -> None:
    event = normalized({"exception": [{"type": "E", "stacktrace": [{"function": "f"}]}]})
    assert _functions(event) == ["f"]


def test_javascript_frames_keep_their_minified_location() -> None:
    event = normalized(javascript_event())
    (located,) = event["exceptions"][0]["frames"]
    assert (located["abs_path"], located["lineno"], located["colno"], located["function"]) == (
        "https://cdn.example.com/static/app.3f9a1c.min.js",
        1,
        31337,
        "a.b",
    )
    assert (located["minified"], located["symbolication"]) == (None, None)
    assert event["platform"] == "javascript"


def test_sourcemap_debug_images_are_extracted() -> None:
    payload = javascript_event()
    payload["debug_meta"]["images"].append({"type": "macho", "debug_id": "x"})
    payload["debug_meta"]["images"].append({"type": "sourcemap", "code_file": "a.js"})
    event = normalized(payload)
    assert event["debug_images"] == [
        {
            "code_file": "https://cdn.example.com/static/app.3f9a1c.min.js",
            "debug_id": "c0ffee00-1234-4abc-8def-0123456789ab",
        }
    ]
    assert json.loads(event["extra_json"])["debug_meta"] == {
        "images": [{"type": "macho", "debug_id": "x"}]
    }
    assert kinds(event) == ["invalid_debug_image"]


def test_debug_meta_without_other_content_leaves_no_trace_in_extra() -> None:
    assert "debug_meta" not in json.loads(normalized(javascript_event())["extra_json"])


NODE_STACK = (
    "TypeError: Cannot read properties of null (reading 'x')\n"
    "    at each (file:///srv/app/dist/main.mjs:10:42)\n"
    "    at Array.forEach (<anonymous>)\n"
    "    at file:///srv/app/dist/main.mjs:10:11\n"
    "    at ModuleJob.run (node:internal/modules/esm/module_job:325:25)"
)


def test_a_raw_stack_string_becomes_the_frames() -> None:
    event = normalized({"exception": [{"type": "TypeError", "stack": NODE_STACK}]})
    frames = event["exceptions"][0]["frames"]
    located = [(f["function"], f["abs_path"], f["lineno"], f["colno"], f["in_app"]) for f in frames]
    assert located == [
        ("ModuleJob.run", "node:internal/modules/esm/module_job", 325, 25, False),
        (None, "file:///srv/app/dist/main.mjs", 10, 11, None),
        ("Array.forEach", "<anonymous>", None, None, False),
        ("each", "file:///srv/app/dist/main.mjs", 10, 42, None),
    ]
    assert frames[-1] == {
        "filename": None,
        "abs_path": "file:///srv/app/dist/main.mjs",
        "function": "each",
        "module": None,
        "lineno": 10,
        "colno": 42,
        "in_app": None,
        "context_line": None,
        "pre_context": [],
        "post_context": [],
        "minified": None,
        "symbolication": None,
    }
    assert kinds(event) == []


def test_sent_frames_win_over_a_stack_string() -> None:
    payload = _exception([{"function": "sent"}], stack=NODE_STACK)
    assert _functions(normalized(payload)) == ["sent"]


def test_a_parsed_stack_is_capped_like_sent_frames() -> None:
    stack = "Error: x\n" + "\n".join(f"    at f{i} (https://h/a.js:{i}:1)" for i in range(9))
    event = normalized({"exception": [{"stack": stack}]}, NormalizeSettings(max_frames=4))
    assert _functions(event) == ["f8", "f7", "f1", "f0"]
    assert kinds(event) == ["too_many_frames"]


@pytest.mark.parametrize(
    ("abs_path", "sent", "expected"),
    [
        ("node:internal/process/task_queues", None, False),
        ("node:internal/process/task_queues", True, True),
        ("[native code]", None, False),
        ("<anonymous>", None, False),
        ("https://cdn.example.com/static/app.js", None, None),
    ],
)
def test_runtime_frames_without_in_app_are_not_in_app(
    abs_path: str, sent: bool | None, expected: bool | None
) -> None:
    event = normalized(_exception([{"function": "f", "abs_path": abs_path, "in_app": sent}]))
    assert event["exceptions"][0]["frames"][0]["in_app"] is expected
