"""Every Normalized output is a valid processed_event v1 record; helpers the other
test_normalize_* modules share (they import them from here)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate

from pipeline.stages.normalize import (
    Filtered,
    Invalid,
    Normalized,
    NormalizeSettings,
    Result,
    normalize_event,
)

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "processed_event" / "v1.avsc"
SCHEMA = fastavro.parse_schema(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
NOW_MS = 1_700_000_000_000
DEFAULTS = NormalizeSettings()


def raw_event(
    payload: dict[str, Any] | bytes,
    *,
    event_id: str = "",
    project_id: int = 42,
    received_at_ms: int = NOW_MS,
) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "event_id": event_id,
        "project_id": project_id,
        "received_at_ms": received_at_ms,
        "payload": body,
        "remote_addr": None,
        "content_type": "application/json",
    }


def run(
    payload: dict[str, Any] | bytes,
    settings: NormalizeSettings = DEFAULTS,
    now_ms: int = NOW_MS,
    **raw: Any,
) -> Result:
    result = normalize_event(raw_event(payload, **raw), settings, now_ms)
    if isinstance(result, Normalized):
        validate(result.event, SCHEMA, raise_errors=True)
    return result


def normalized(
    payload: dict[str, Any] | bytes, settings: NormalizeSettings = DEFAULTS, **raw: Any
) -> dict[str, Any]:
    """The processed event, after checking it is one and matches the schema."""
    result = run(payload, settings, **raw)
    assert isinstance(result, Normalized), result
    return result.event


def invalid(payload: dict[str, Any] | bytes, settings: NormalizeSettings = DEFAULTS) -> Invalid:
    result = run(payload, settings)
    assert isinstance(result, Invalid), result
    return result


def kinds(event: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in event["errors"]]


def details(event: dict[str, Any], kind: str) -> list[str]:
    return [e["detail"] for e in event["errors"] if e["kind"] == kind]


def frame(i: int, *, in_app: bool = True, lineno: int | None = None) -> dict[str, Any]:
    return {
        "filename": f"app/mod{i}.py",
        "abs_path": f"/srv/app/mod{i}.py",
        "module": f"app.mod{i}",
        "function": f"func_{i}",
        "lineno": 10 + i if lineno is None else lineno,
        "in_app": in_app,
        "context_line": "    result = compute(x, y)",
        "pre_context": ["def func():", "    x = 1"],
        "post_context": ["    return result"],
        "vars": {"x": 1, "y": "value", "password": "hunter2"},
    }


def python_event(frames: int = 20, exc_type: str = "ValueError", **extra: Any) -> dict[str, Any]:
    """A typical Python SDK error event."""
    return {
        "event_id": "9f2c4e1a7b3d4c5e8f9a0b1c2d3e4f50",
        "timestamp": NOW_MS / 1000 - 5,
        "platform": "python",
        "level": "error",
        "logger": "app.views",
        "release": "myapp@1.2.3",
        "environment": "production",
        "server_name": "web-1",
        "sdk": {"name": "sentry.python", "version": "1.40.0", "integrations": ["django"]},
        "tags": {"browser": "Chrome", "url": "/api/users/123", "customer": "acme"},
        "exception": {
            "values": [
                {
                    "type": exc_type,
                    "value": "invalid literal for int() with base 10: 'abc'",
                    "module": "builtins",
                    "mechanism": {"type": "django", "handled": False},
                    "stacktrace": {"frames": [frame(i, in_app=i % 3 != 0) for i in range(frames)]},
                }
            ]
        },
        "user": {"id": "u-1", "ip_address": "10.0.0.1"},
        "request": {
            "url": "https://example.com/api/users/123",
            "method": "GET",
            "headers": {"Cookie": "session=abc", "User-Agent": "Mozilla/5.0"},
        },
        "contexts": {"os": {"name": "Linux"}, "runtime": {"name": "CPython", "version": "3.11"}},
        "extra": {"user_id": 123, "api_token": "abc", "ratio": 0.5},
        "breadcrumbs": {"values": [{"category": "http", "message": "GET /api"}]},
        **extra,
    }


def javascript_event() -> dict[str, Any]:
    return {
        "platform": "javascript",
        "sdk": {"name": "sentry.javascript.browser", "version": "7.100.0"},
        "exception": {
            "values": [
                {
                    "type": "TypeError",
                    "value": "Cannot read properties of undefined (reading 'x')",
                    "stacktrace": {
                        "frames": [
                            {
                                "abs_path": "https://cdn.example.com/static/app.3f9a1c.min.js",
                                "filename": "/static/app.3f9a1c.min.js",
                                "function": "a.b",
                                "lineno": 1,
                                "colno": 31337,
                                "in_app": True,
                            }
                        ]
                    },
                }
            ]
        },
        "debug_meta": {
            "images": [
                {
                    "type": "sourcemap",
                    "code_file": "https://cdn.example.com/static/app.3f9a1c.min.js",
                    "debug_id": "C0FFEE00-1234-4ABC-8DEF-0123456789AB",
                }
            ]
        },
    }


CORPUS: list[dict[str, Any]] = [
    {},
    {"message": "hello"},
    python_event(),
    python_event(frames=0),
    javascript_event(),
    {"logentry": {"message": "User %s", "formatted": "User bob", "params": ["bob"]}},
    {"message": "x" * 20000, "tags": [["k" * 100, "v" * 1000]], "level": "bogus"},
    {"exception": [{"type": "E", "stacktrace": {"frames": [{"lineno": 2**70}] * 300}}]},
    {"message": "m", "extra": {"n": float("nan")}, "timestamp": "2023-11-14T22:13:15Z"},
    {"message": "\ud800", "\udfff": 1, "timestamp": 10**30, "fingerprint": ["{{ default }}", 7]},
]


@pytest.mark.parametrize("payload", CORPUS, ids=range(len(CORPUS)))
def test_normalized_events_match_the_schema(payload: dict[str, Any]) -> None:
    event = normalized(payload)
    assert isinstance(json.loads(event["extra_json"]), dict)
    assert len(event["event_id"]) == 32
    assert len(event["grouping_hash"]) == 32
    assert event["stage_times_ms"] == {"normalize": NOW_MS}


def test_the_typical_event_keeps_everything_it_does_not_type_in_extra_json() -> None:
    event = normalized(python_event())
    extra = json.loads(event["extra_json"])
    assert set(extra) == {
        "logger",
        "server_name",
        "sdk",
        "user",
        "request",
        "contexts",
        "extra",
        "breadcrumbs",
    }
    assert extra["sdk"] == {"integrations": ["django"]}
    assert (event["sdk_name"], event["sdk_version"]) == ("sentry.python", "1.40.0")
    assert (event["release"], event["environment"], event["dist"]) == (
        "myapp@1.2.3",
        "production",
        None,
    )
    assert event["event_id"] == "9f2c4e1a7b3d4c5e8f9a0b1c2d3e4f50"
    assert event["timestamp_ms"] == NOW_MS - 5000
    assert event["errors"] == []


def _mutations(seed: int, count: int) -> list[bytes]:
    """Truncations, byte flips and splices of real events: mostly garbage, some still JSON."""
    rng = random.Random(seed)
    bases = [json.dumps(p).encode() for p in CORPUS[:6]]
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(bases))
        op = rng.randrange(3)
        if op == 0:
            del data[rng.randrange(len(data)) :]
        elif op == 1:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            at = rng.randrange(len(data))
            data[at:at] = rng.choice([b"[", b"{", b'"', b"\\", b"NaN", b"\x00", b"\xff", b"1e999"])
        out.append(bytes(data))
    return out


def test_mutated_payloads_never_raise_and_normalized_ones_match_the_schema() -> None:
    outcomes = {Normalized: 0, Invalid: 0, Filtered: 0}
    for payload in _mutations(seed=7, count=400):
        outcomes[type(run(payload))] += 1
    assert outcomes[Normalized] > 0
    assert outcomes[Invalid] > 0
