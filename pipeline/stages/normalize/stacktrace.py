"""Exceptions and their stack frames, typed and trimmed.

Frames keep what the SDK sent (for JavaScript: the minified ``abs_path``, ``lineno``, ``colno``
and ``function``); symbolicate rewrites them later and fills ``minified``. A stack trace longer
than ``max_frames`` keeps its first and last halves: the entry point and the crash site.

An extension for clients without a stack parser: an exception with no frames but a raw
JavaScript ``stack`` string (``err.stack``) gets its frames parsed from it (``stack_strings``).
A frame the SDK sent without ``in_app`` whose ``abs_path`` is the runtime's own (``node:``,
``native``, ``[native code]``...) is marked ``in_app=False``, as no app code lives there.
"""

from __future__ import annotations

from typing import Any

from pipeline.stages.js_runtime_paths import has_no_source_map
from pipeline.stages.normalize.results import ErrorLog
from pipeline.stages.normalize.settings import NormalizeSettings
from pipeline.stages.normalize.stack_strings import parse_stack
from pipeline.stages.normalize.trim import trim, trim_logged

_MAX_LONG = 2**63 - 1
_DEFAULT_TYPE = "Error"


def normalize_exceptions(
    value: Any, settings: NormalizeSettings, errors: ErrorLog
) -> list[dict[str, Any]]:
    """``exception`` as ``{"values": [...]}`` or a bare list; newest (last) kept when capped."""
    if isinstance(value, dict):
        value = value.get("values")
    if value is None:
        return []
    if not isinstance(value, list):
        errors.bad_type("exception", value)
        return []
    if len(value) > settings.max_exceptions:
        errors.add("too_many_exceptions", f"kept {settings.max_exceptions} of {len(value)}")
        value = value[-settings.max_exceptions :]
    exceptions = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            errors.bad_type(f"exception[{i}]", item)
            continue
        exc = _exception(item, f"exception[{i}]", settings, errors)
        if exc is not None:
            exceptions.append(exc)
    return exceptions


def _exception(
    item: dict[str, Any], path: str, settings: NormalizeSettings, errors: ErrorLog
) -> dict[str, Any] | None:
    type_ = _string(item.get("type"), f"{path}.type", settings.max_exception_type_chars, errors)
    value = _string(item.get("value"), f"{path}.value", settings.max_exception_value_chars, errors)
    module = _string(item.get("module"), f"{path}.module", settings.max_frame_field_chars, errors)
    frames = _frames(item.get("stacktrace"), path, settings, errors)
    stack = item.get("stack")
    if not frames and isinstance(stack, str):
        frames = _frames(parse_stack(stack), f"{path}.stack", settings, errors)
    if not (type_ or value or frames):
        errors.add("empty_exception", path)
        return None
    return {
        "type": type_ or _DEFAULT_TYPE,
        "value": value or "",
        "module": module,
        "frames": frames,
    }


def _frames(
    stacktrace: Any, path: str, settings: NormalizeSettings, errors: ErrorLog
) -> list[dict[str, Any]]:
    if stacktrace is None:
        return []
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else stacktrace
    if frames is None:
        return []
    if not isinstance(frames, list):
        errors.bad_type(f"{path}.stacktrace", stacktrace)
        return []
    if len(frames) > settings.max_frames:
        errors.add("too_many_frames", f"{path}: kept {settings.max_frames} of {len(frames)}")
        head = settings.max_frames // 2
        frames = frames[:head] + frames[len(frames) - (settings.max_frames - head) :]
    result = []
    for j, frame in enumerate(frames):
        if isinstance(frame, dict):
            result.append(_frame(frame, f"{path}.frames[{j}]", settings, errors))
        else:
            errors.bad_type(f"{path}.frames[{j}]", frame)
    return result


def _frame(
    frame: dict[str, Any], path: str, settings: NormalizeSettings, errors: ErrorLog
) -> dict[str, Any]:
    limit = settings.max_frame_field_chars
    in_app = frame.get("in_app")
    if in_app is not None and not isinstance(in_app, bool):
        errors.bad_type(f"{path}.in_app", in_app)
        in_app = None
    context_line = frame.get("context_line")
    if context_line is not None and not isinstance(context_line, str):
        errors.bad_type(f"{path}.context_line", context_line)
        context_line = None
    filename = _string(frame.get("filename"), f"{path}.filename", limit, errors)
    abs_path = _string(frame.get("abs_path"), f"{path}.abs_path", limit, errors)
    if in_app is None and abs_path is not None and has_no_source_map(abs_path):
        in_app = False
    line_limit = settings.max_context_line_chars
    return {
        "filename": filename,
        "abs_path": abs_path,
        "function": _string(frame.get("function"), f"{path}.function", limit, errors),
        "module": _string(frame.get("module"), f"{path}.module", limit, errors),
        "lineno": _position(frame.get("lineno"), f"{path}.lineno", errors),
        "colno": _position(frame.get("colno"), f"{path}.colno", errors),
        "in_app": in_app,
        "context_line": None if context_line is None else trim(context_line, line_limit),
        "pre_context": _context(
            frame.get("pre_context"), f"{path}.pre_context", True, settings, errors
        ),
        "post_context": _context(
            frame.get("post_context"), f"{path}.post_context", False, settings, errors
        ),
        "minified": None,
        "symbolication": None,
    }


def _string(value: Any, path: str, limit: int, errors: ErrorLog) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.bad_type(path, value)
        return None
    return trim_logged(value, limit, path, errors)


def _position(value: Any, path: str, errors: ErrorLog) -> int | None:
    """A line or column: a non-negative integer that fits Avro's long."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.bad_type(path, value)
        return None
    if not 0 <= value <= _MAX_LONG:
        errors.add("invalid_value", f"{path}: out of range")
        return None
    return value


def _context(
    value: Any, path: str, before: bool, settings: NormalizeSettings, errors: ErrorLog
) -> list[str]:
    """Source lines around the frame, the ones nearest to it kept; trimmed without an error."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.bad_type(path, value)
        return []
    keep = settings.max_context_lines
    if keep == 0:
        return []
    lines = value[-keep:] if before else value[:keep]
    limit = settings.max_context_line_chars
    return [trim(line, limit) if isinstance(line, str) else "" for line in lines]
