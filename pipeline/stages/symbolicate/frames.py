"""Pure rewriting of processed_event frames: which ones to map, and what a mapped one looks like."""

from __future__ import annotations

import posixpath
from typing import Any, Protocol
from urllib.parse import urlsplit

from pipeline.adapters.artifacts.urls import join_url
from pipeline.stages.js_runtime_paths import has_no_source_map
from pipeline.stages.symbolicate.names import source_function_name

STAGE = "symbolicate"


class Token(Protocol):
    """The part of ``symbolic``'s SourceMapCacheToken a frame is rewritten from."""

    line: int
    col: int
    src: str | None
    function_name: str | None
    context_line: str | None
    pre_context: list[str]
    post_context: list[str]


def wants_mapping(frame: dict[str, Any]) -> bool:
    """A minified location not yet handled; a replayed event is never mapped twice."""
    return (
        isinstance(frame.get("abs_path"), str)
        and bool(frame["abs_path"])
        and not has_no_source_map(frame["abs_path"])
        and isinstance(frame.get("lineno"), int)
        and isinstance(frame.get("colno"), int)
        and frame.get("symbolication") is None
        and frame.get("minified") is None
    )


def debug_ids_by_file(event: dict[str, Any]) -> dict[str, str]:
    """The debug id the SDK reported for each minified file (its debug images)."""
    return {
        image["code_file"]: image["debug_id"]
        for image in event.get("debug_images") or []
        if image.get("code_file") and image.get("debug_id")
    }


def mapped_frame(frame: dict[str, Any], token: Token, map_url: str) -> dict[str, Any]:
    """The frame at its original location; ``minified`` keeps where it pointed before."""
    function = token.function_name
    if function and function != "<unknown>":
        function = source_function_name(function)
    else:
        function = frame.get("function")
    src = token.src or ""
    return {
        **frame,
        "abs_path": join_url(map_url, src) if src else frame["abs_path"],
        "filename": display_filename(src) if src else frame.get("filename"),
        "function": function,
        "lineno": token.line,
        "colno": token.col,
        "context_line": _line(token.context_line) if token.context_line is not None else None,
        "pre_context": [_line(line) for line in token.pre_context],
        "post_context": [_line(line) for line in token.post_context],
        "minified": {
            "abs_path": frame["abs_path"],
            "function": frame.get("function"),
            "lineno": frame["lineno"],
            "colno": frame["colno"],
        },
        "symbolication": "ok",
    }


def unmapped_frame(frame: dict[str, Any], kind: str) -> dict[str, Any]:
    return {**frame, "symbolication": kind}


def error_entry(kind: str, detail: str) -> dict[str, str]:
    return {"stage": STAGE, "kind": kind, "detail": detail}


def display_filename(src: str) -> str:
    """A short, stable name for a map's source: ``webpack:///./src/a.js`` and ``../src/a.js``
    both become ``src/a.js``."""
    parts = urlsplit(src)
    path = posixpath.normpath(parts.path if parts.scheme else src)
    segments = [s for s in path.split("/") if s not in ("", ".", "..")]
    return "/".join(segments) or src


def _line(text: str) -> str:
    return text.rstrip("\r\n")
