"""Pure rewriting of processed_event frames: which ones to map, and what a mapped one looks like."""

from __future__ import annotations

import posixpath
from typing import Any, Protocol
from urllib.parse import urlsplit

from pipeline.adapters.artifacts.urls import join_url
from pipeline.stages.symbolicate.names import source_function_name
from pipeline.stages.symbolicate.source_scopes import OriginalSources

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


def debug_ids_by_file(event: dict[str, Any]) -> dict[str, str]:
    """The debug id the SDK reported for each minified file (its debug images)."""
    return {
        image["code_file"]: image["debug_id"]
        for image in event.get("debug_images") or []
        if image.get("code_file") and image.get("debug_id")
    }


def source_function(
    frame: dict[str, Any], token: Token, original: OriginalSources
) -> tuple[str | None, bool]:
    """The frame's function as its author named it, and whether the only name left is the
    minifier's. From the original source's scope when the map carries the source (None for an
    anonymous callback), else from the scope symbolic found in the minified code, else the
    name the SDK sent: the minifier's."""
    if token.src and original.has(token.src):
        return original.function_at(token.src, token.line, token.col), False
    if token.function_name and token.function_name != "<unknown>":
        return source_function_name(token.function_name), False
    sent = frame.get("function")
    return sent, sent is not None


def mapped_frame(
    frame: dict[str, Any], token: Token, map_url: str, function: str | None
) -> dict[str, Any]:
    """The frame at its original location; ``minified`` keeps where it pointed before."""
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
