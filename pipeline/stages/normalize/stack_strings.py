"""Raw JavaScript ``err.stack`` strings as Sentry-style frames, for clients without a parser.

V8 (Chrome, Edge, Node) prints ``    at fn (url:line:col)`` or ``    at url:line:col``;
SpiderMonkey (Firefox) and JavaScriptCore (Safari) print ``fn@url:line:col``, ``@url:line:col``
or ``[native code]``. Other lines (the ``Name: message`` header, however many lines the message
has) are skipped.

Names stay as the engine prints them (``new Foo``, ``Object.<anonymous>``, Firefox's
``Foo/<.bar``, Safari's ``global code``), so a frame parsed here matches the one Sentry's JS SDK
would have sent and both group alike; only what is not part of the name goes: V8's ``async `` and
`` [as alias]``, Firefox's ``async*`` (and other ``cause*``) prefixes. Only a frame printed with
no name at all gets ``function=None``. An eval frame points at the eval call in the outer file,
as the SDK does (Firefox prints no column for it, so ``colno`` is None).

Input may be hostile: at most ``max_lines`` lines are read, longer lines than ``max_line_chars``
are skipped, and every regex is anchored without nested quantifiers, so work stays linear.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.stages.js_runtime_paths import has_no_source_map

MAX_LINES = 200
MAX_LINE_CHARS = 2000

_LOCATION = re.compile(r"(.+?):(\d+)(?::(\d+))?")
"""``path:line[:col]``; the lazy path makes the last ``:line:col`` win (``a (1).js:2:3``)."""
_V8_EVAL_ORIGIN = re.compile(r"\(([^()]+):(\d+):(\d+)\)")
"""The innermost ``(url:line:col)`` of ``eval at f (eval at g (url:l:c)), <anonymous>:l:c``."""
_GECKO_EVAL = re.compile(r"(.+?) line (\d+) > ")
"""``url line 26 > eval[ line 2 > eval]:1:30`` and ``... > Function:1:1``."""
_ASYNC_CAUSE = re.compile(r"[A-Za-z][\w. ]*\*")
"""Firefox's ``async*``, ``promise callback*``, ``setTimeout handler*`` before a name."""
_PROMISE_INDEX = re.compile(r"index \d+")
"""V8's ``at async Promise.all (index 0)``: a runtime frame with no location."""


def parse_stack(
    stack: str, *, max_lines: int = MAX_LINES, max_line_chars: int = MAX_LINE_CHARS
) -> list[dict[str, Any]]:
    """Frames oldest first, the crash site last: the reverse of the string, Sentry's order.
    The cap keeps the first lines, so the frames lost to it are the oldest ones."""
    frames = []
    for raw in stack.split("\n", max_lines)[:max_lines]:
        if len(raw) > max_line_chars:
            continue
        line = raw.strip()
        frame = _v8(line[3:]) if line.startswith("at ") else _gecko(line)
        if frame is not None:
            frames.append(frame)
    frames.reverse()
    return frames


def _v8(body: str) -> dict[str, Any]:
    body = body.removeprefix("async ")
    function: str | None = None
    location = body
    if body.startswith("(") and body.endswith(")"):
        location = body[1:-1]  # ``at async (url:1:2)``: node with a source map naming nothing
    elif body.endswith(")") and " (" in body:
        function, _, location = body[:-1].partition(" (")
        function = _without_alias(function)
    if _PROMISE_INDEX.fullmatch(location):
        return _frame(function, None, None, None, in_app=False)
    if location.startswith("eval at "):
        origin = _V8_EVAL_ORIGIN.search(location)
        if origin is not None:
            return _frame(function, origin[1], int(origin[2]), int(origin[3]))
        location = location.rpartition(", ")[2]
    return _located(function, location) or _frame(function, location, None, None)


def _gecko(line: str) -> dict[str, Any] | None:
    if line == "[native code]":
        return _frame(None, line, None, None)
    function, at, location = line.partition("@")
    if not at:
        if " " in line or "://" not in line:
            return None
        function, location = "", line  # Safari 7 and 8 print anonymous frames bare
    if ": " in function:
        return None  # a ``Name: message`` header with an ``@`` in the message
    cause = _ASYNC_CAUSE.match(function)
    if cause is not None:
        function = function[cause.end() :]
    if location == "[native code]":
        return _frame(function, location, None, None)
    evaluated = _GECKO_EVAL.match(location)
    if evaluated is not None:
        return _frame(function, evaluated[1], int(evaluated[2]), None)
    return _located(function, location)


def _without_alias(function: str) -> str:
    """``fn [as alias]`` is ``fn`` called through another property name."""
    if function.endswith("]"):
        name, alias, _ = function.rpartition(" [as ")
        if alias:
            return name
    return function


def _located(function: str | None, location: str) -> dict[str, Any] | None:
    match = _LOCATION.fullmatch(location)
    if match is None:
        return None
    colno = int(match[3]) if match[3] is not None else None
    return _frame(function, match[1], int(match[2]), colno)


def _frame(
    function: str | None,
    abs_path: str | None,
    lineno: int | None,
    colno: int | None,
    in_app: bool | None = None,
) -> dict[str, Any]:
    if in_app is None and abs_path is not None and _is_library(abs_path):
        in_app = False
    return {
        "function": function or None,
        "abs_path": abs_path or None,
        "lineno": lineno,
        "colno": colno,
        "in_app": in_app,
    }


def _is_library(abs_path: str) -> bool:
    """The runtime's own code or a dependency's: never the app's."""
    return has_no_source_map(abs_path) or "/node_modules/" in abs_path
