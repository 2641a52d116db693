"""Raw ``err.stack`` strings from V8, SpiderMonkey and JavaScriptCore parsed into frames.

The Node strings are real: printed by Node 20 (``JSON.stringify(err.stack)``) and pasted here.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pipeline.stages.normalize.stack_strings import parse_stack

Row = tuple[str | None, str | None, int | None, int | None, bool | None]

NODE_CJS = (
    "Error: boom\nsecond line of message\n"
    "    at inner (/tmp/stackgen/cjs.js:5:26)\n"
    "    at outer (/tmp/stackgen/cjs.js:4:27)\n"
    "    at tries (/tmp/stackgen/cjs.js:9:9)\n"
    "    at Object.<anonymous> (/tmp/stackgen/cjs.js:20:32)\n"
    "    at Module._compile (node:internal/modules/cjs/loader:1521:14)\n"
    "    at Module._extensions..js (node:internal/modules/cjs/loader:1623:10)\n"
    "    at Module.load (node:internal/modules/cjs/loader:1266:32)\n"
    "    at Module._load (node:internal/modules/cjs/loader:1091:12)\n"
    "    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:164:12)\n"
    "    at node:internal/main/run_main_module:28:49"
)
NODE_ASYNC = (
    "Error: async\n"
    "    at a1 (/tmp/stackgen/cjs.js:21:41)\n"
    "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n"
    "    at async a2 (/tmp/stackgen/cjs.js:22:23)\n"
    "    at async Promise.all (index 0)\n"
    "    at async a3 (/tmp/stackgen/cjs.js:23:23)"
)
NODE_ESM_NESTED_EVAL = (
    "Error: nested\n"
    "    at eval (eval at <anonymous> (eval at <anonymous> (file:///tmp/stackgen/esm.mjs:7:7)),"
    " <anonymous>:1:7)\n"
    "    at eval (eval at <anonymous> (file:///tmp/stackgen/esm.mjs:7:7), <anonymous>:1:1)\n"
    "    at file:///tmp/stackgen/esm.mjs:7:7\n"
    "    at ModuleJob.run (node:internal/modules/esm/module_job:325:25)\n"
    "    at async ModuleLoader.import (node:internal/modules/esm/loader:606:24)\n"
    "    at async asyncRunEntryPointWithESMLoader (node:internal/modules/run_main:117:5)"
)
FIREFOX = (
    "aha@https://h/static/app.js:19:13\n"
    "callback@https://h/static/app.js:25:7\n"
    "test/<@https://h/static/app.js:34:7\n"
    "@https://h/static/app.js line 39 > eval:1:1\n"
    "async*testMethod@https://h/static/app.js:44:7\n"
    "@https://h/static/app.js:50:19\n"
)
SAFARI = (
    "fooIterator@https://h/static/app.js:20:26\n"
    "map@[native code]\n"
    "foo@https://h/static/app.js:19:22\n"
    "eval code\n"
    "eval@[native code]\n"
    "global code@https://h/static/app.js:24:10"
)


def _rows(frames: list[dict[str, Any]]) -> list[Row]:
    assert all(set(f) == {"function", "abs_path", "lineno", "colno", "in_app"} for f in frames), (
        frames
    )
    return [(f["function"], f["abs_path"], f["lineno"], f["colno"], f["in_app"]) for f in frames]


def _one(line: str) -> Row:
    (row,) = _rows(parse_stack(line))
    return row


def test_a_node_stack_is_oldest_first_without_its_message() -> None:
    loader = "node:internal/modules/cjs/loader"
    assert _rows(parse_stack(NODE_CJS)) == [
        (None, "node:internal/main/run_main_module", 28, 49, False),
        ("Function.executeUserEntryPoint", "node:internal/modules/run_main", 164, 12, False),
        ("Module._load", loader, 1091, 12, False),
        ("Module.load", loader, 1266, 32, False),
        ("Module._extensions..js", loader, 1623, 10, False),
        ("Module._compile", loader, 1521, 14, False),
        ("Object.<anonymous>", "/tmp/stackgen/cjs.js", 20, 32, None),
        ("tries", "/tmp/stackgen/cjs.js", 9, 9, None),
        ("outer", "/tmp/stackgen/cjs.js", 4, 27, None),
        ("inner", "/tmp/stackgen/cjs.js", 5, 26, None),
    ]


def test_node_async_frames_drop_the_async_keyword() -> None:
    assert _rows(parse_stack(NODE_ASYNC)) == [
        ("a3", "/tmp/stackgen/cjs.js", 23, 23, None),
        ("Promise.all", None, None, None, False),
        ("a2", "/tmp/stackgen/cjs.js", 22, 23, None),
        ("process.processTicksAndRejections", "node:internal/process/task_queues", 95, 5, False),
        ("a1", "/tmp/stackgen/cjs.js", 21, 41, None),
    ]


def test_nested_eval_frames_point_at_the_outer_call() -> None:
    esm = "file:///tmp/stackgen/esm.mjs"
    assert _rows(parse_stack(NODE_ESM_NESTED_EVAL))[3:] == [
        (None, esm, 7, 7, None),
        ("eval", esm, 7, 7, None),
        ("eval", esm, 7, 7, None),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    at fn (https://example.com/static/app.min.js:1:31337)", "fn"),
        ("    at new Foo (/tmp/stackgen/cjs.js:2:35)", "new Foo"),
        ("    at async a2 (/tmp/stackgen/cjs.js:22:23)", "a2"),
        ("    at Object.named [as alias] (/tmp/stackgen/cjs.js:6:48)", "Object.named"),
        ("    at Foo.[bar] (/tmp/stackgen/cjs.js:3:111)", "Foo.[bar]"),
        ("    at [Symbol.iterator] (/tmp/stackgen/cjs.js:3:111)", "[Symbol.iterator]"),
        ("    at get [Symbol.iterator] (/tmp/stackgen/cjs.js:3:111)", "get [Symbol.iterator]"),
        ("    at /tmp/stackgen/cjs.js:3:111", None),
    ],
)
def test_v8_function_names(line: str, expected: str | None) -> None:
    assert _one(line)[0] == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "    at Money.allocate (file:///tmp/stackgen/esm.mjs:2:46)",
            ("Money.allocate", "file:///tmp/stackgen/esm.mjs", 2, 46, None),
        ),
        (
            "    at Module._compile (node:internal/modules/cjs/loader:1256:14)",
            ("Module._compile", "node:internal/modules/cjs/loader", 1256, 14, False),
        ),
        (
            "    at Module._compile (internal/modules/cjs/loader.js:1063:30)",
            ("Module._compile", "internal/modules/cjs/loader.js", 1063, 30, False),
        ),
        (
            "    at Object.run (/tmp/stackgen/node_modules/lib/index.js:1:41)",
            ("Object.run", "/tmp/stackgen/node_modules/lib/index.js", 1, 41, False),
        ),
        ("    at Array.map (<anonymous>)", ("Array.map", "<anonymous>", None, None, False)),
        ("    at g.next (<anonymous>)", ("g.next", "<anonymous>", None, None, False)),
        (
            "    at Generator.next (<anonymous>)",
            ("Generator.next", "<anonymous>", None, None, False),
        ),
        ("    at <anonymous>", (None, "<anonymous>", None, None, False)),
        ("    at fn (native)", ("fn", "native", None, None, False)),
        (
            "    at thrower (/tmp/stackgen/dir with space/a (1).js:1:45)",
            ("thrower", "/tmp/stackgen/dir with space/a (1).js", 1, 45, None),
        ),
        ("    at fn (http://h/a (1).js:2:3)", ("fn", "http://h/a (1).js", 2, 3, None)),
        (
            "    at eval (eval at <anonymous> (file:///x.js:1:1), <anonymous>:1:7)",
            ("eval", "file:///x.js", 1, 1, None),
        ),
        (
            "    at eval (eval at run (http://h/a.js:3:5), <anonymous>:1:1)",
            ("eval", "http://h/a.js", 3, 5, None),
        ),
        (
            "    at eval (eval at <anonymous> (<anonymous>), <anonymous>:1:7)",
            ("eval", "<anonymous>", 1, 7, False),
        ),
        (
            "    at async file:///tmp/stackgen/esm.mjs:13:1",
            (None, "file:///tmp/stackgen/esm.mjs", 13, 1, None),
        ),
    ],
)
def test_v8_locations(line: str, expected: Row) -> None:
    assert _one(line) == expected


def test_a_firefox_stack() -> None:
    app = "https://h/static/app.js"
    assert _rows(parse_stack(FIREFOX)) == [
        (None, app, 50, 19, None),
        ("testMethod", app, 44, 7, None),
        (None, app, 39, None, None),
        ("test/<", app, 34, 7, None),
        ("callback", app, 25, 7, None),
        ("aha", app, 19, 13, None),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("fn@https://h/a.js:10:5", ("fn", "https://h/a.js", 10, 5, None)),
        ("@https://h/a.js:10:5", (None, "https://h/a.js", 10, 5, None)),
        ("Foo/<.bar@https://h/a.js:1:2", ("Foo/<.bar", "https://h/a.js", 1, 2, None)),
        ("foo/<@https://h/a.js:1:2", ("foo/<", "https://h/a.js", 1, 2, None)),
        ("fn@https://h/a.js line 2 > eval:1:1", ("fn", "https://h/a.js", 2, None, None)),
        (
            "baz@http://localhost:8080/file.js line 26 > eval line 2 > eval:1:30",
            ("baz", "http://localhost:8080/file.js", 26, None, None),
        ),
        (
            "anonymous@https://h/main.js line 267 > AsyncFunction:4:7",
            ("anonymous", "https://h/main.js", 267, None, None),
        ),
        ("async*fn@https://h/a.js:3:4", ("fn", "https://h/a.js", 3, 4, None)),
        ("promise callback*fn@https://h/a.js:3:4", ("fn", "https://h/a.js", 3, 4, None)),
        ("fn@debugger eval code:1:1", ("fn", "debugger eval code", 1, 1, None)),
        (
            "onclick@http://path/to/file.js:82",
            ("onclick", "http://path/to/file.js", 82, None, None),
        ),
        (
            "run@https://cdn.jsdelivr.net/npm/x@1.2.3/dist/x.js:5:6",
            ("run", "https://cdn.jsdelivr.net/npm/x@1.2.3/dist/x.js", 5, 6, None),
        ),
        (
            "onClick@http://localhost:3002/app/(group)/[route]/script.js:1:644",
            ("onClick", "http://localhost:3002/app/(group)/[route]/script.js", 1, 644, None),
        ),
    ],
)
def test_firefox_frames(line: str, expected: Row) -> None:
    assert _one(line) == expected


def test_a_safari_stack() -> None:
    app = "https://h/static/app.js"
    assert _rows(parse_stack(SAFARI)) == [
        ("global code", app, 24, 10, None),
        ("eval", "[native code]", None, None, False),
        ("foo", app, 19, 22, None),
        ("map", "[native code]", None, None, False),
        ("fooIterator", app, 20, 26, None),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("fn@https://h/a.js:10:5", ("fn", "https://h/a.js", 10, 5, None)),
        ("global code@https://h/a.js:1:1", ("global code", "https://h/a.js", 1, 1, None)),
        ("module code@https://h/a.mjs:1:1", ("module code", "https://h/a.mjs", 1, 1, None)),
        ("[native code]", (None, "[native code]", None, None, False)),
        ("map@[native code]", ("map", "[native code]", None, None, False)),
        ("@https://h/a.js:3:4", (None, "https://h/a.js", 3, 4, None)),
        ("http://path/to/file.js:48:22", (None, "http://path/to/file.js", 48, 22, None)),
    ],
)
def test_safari_frames(line: str, expected: Row) -> None:
    assert _one(line) == expected


@pytest.mark.parametrize(
    "stack",
    [
        "",
        "\n\n",
        "Error",
        "Error: boom",
        "TypeError: undefined is not a function\n",
        "Error: no account for a@example.com:3",
        "Error: see https://example.com/docs:12 for help",
        "eval code",
        "   \n\t\n",
    ],
)
def test_lines_that_are_not_frames_are_skipped(stack: str) -> None:
    assert parse_stack(stack) == []


def test_crlf_line_ends_are_accepted() -> None:
    stack = "Error: x\r\n    at fn (https://h/a.js:1:2)\r\n    at https://h/a.js:3:4\r\n"
    assert [(f["function"], f["lineno"]) for f in parse_stack(stack)] == [(None, 3), ("fn", 1)]


def test_only_the_first_lines_are_read_so_the_oldest_frames_go() -> None:
    stack = "Error: x\n" + "\n".join(f"    at f{i} (https://h/a.js:{i}:1)" for i in range(10))
    frames = parse_stack(stack, max_lines=4)
    assert [f["function"] for f in frames] == ["f2", "f1", "f0"]
    assert len(parse_stack(stack)) == 10


def test_overlong_lines_are_skipped() -> None:
    long_line = "    at fn (https://h/" + "a" * 100 + ".js:1:2)"
    frames = parse_stack(f"{long_line}\n    at g (https://h/b.js:3:4)", max_line_chars=100)
    assert [f["function"] for f in frames] == ["g"]


@pytest.mark.parametrize(
    "stack",
    [
        "a" * 1_000_000,
        "\n" * 1_000_000,
        "    at " + "(" * 1_000_000,
        "    at f (" + "(:1" * 330_000,
        "    at f (" + "(a" * 500_000 + ")",
        "    at eval (eval at " + "(" * 1_000_000 + "x:1:1)",
        "f@" + ":1" * 500_000 + "x",
        "f@:" + "1" * 500_000 + ":" + "1" * 500_000 + "x",
        "f@http://h" + " line 1" * 140_000,
        "promise" * 140_000 + "@x:1",
        "x" * 999_999 + "@",
    ],
)
def test_hostile_input_is_parsed_quickly(stack: str) -> None:
    """Fast with the caps, and with them lifted too: no regex here backtracks badly."""
    started = time.perf_counter()
    parse_stack(stack)
    parse_stack(stack, max_line_chars=len(stack))
    parse_stack("\n".join([stack[:2000]] * 200))
    assert time.perf_counter() - started < 1.0


def test_a_nameless_async_frame_of_node_with_source_maps() -> None:
    """``node --enable-source-maps`` prints ``at async (url)`` when the map names no function."""
    (frame,) = parse_stack("Error: x\n    at async (https://h.example/src/main.js:42:13)")
    assert frame["function"] is None
    assert (frame["abs_path"], frame["lineno"], frame["colno"]) == (
        "https://h.example/src/main.js",
        42,
        13,
    )
