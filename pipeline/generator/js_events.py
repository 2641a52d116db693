"""Browser and Node.js SDK events whose minified frames point at the demo shop's bundle.

`pipeline dev` uploads the demo bundle and its source map for every ``DEMO_RELEASES`` entry, so
symbolicate can map these frames back to the original source (``pipeline.demo``). Half of the
events also name the bundle's debug id, the other half are found by release and URL.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipeline.generator import common


@dataclass(frozen=True)
class DemoRelease:
    """Where one platform's events say their code came from."""

    platform: str
    release: str
    dist: str | None
    sdk_name: str
    url_origin: str
    """Replaces the scheme and host of the demo's URLs (Node SDKs report ``app:///...``)."""


DEMO_RELEASES = (
    DemoRelease(
        "javascript",
        "demo-shop@1.4.2",
        "web",
        "sentry.javascript.browser",
        "https://demo.example.com",
    ),
    DemoRelease("node", "demo-shop-api@1.4.2", None, "sentry.javascript.node", "app://"),
)
SDK_VERSIONS = ("8.33.1", "8.30.0", "7.119.0")
JS_MESSAGES = ("Checkout took longer than 5s", "Cart badge out of sync with server")


def demo_release(platform: str) -> DemoRelease:
    return next(r for r in DEMO_RELEASES if r.platform == platform)


def js_error(
    rng: random.Random, platform: str, timestamp_ms: int, ip: str, demo: dict[str, Any]
) -> dict[str, Any]:
    """``demo`` is ``pipeline.demo.demo_frames()``, read once by the caller."""
    target = demo_release(platform)
    scenario = rng.choice(demo["scenarios"])
    url = _rebase(demo["url"], target.url_origin)
    frames = [
        {
            "abs_path": _rebase(f["abs_path"], target.url_origin),
            "filename": urlsplit(f["abs_path"]).path,
            "function": f["function"],
            "lineno": f["lineno"],
            "colno": f["colno"],
            "in_app": True,
        }
        for f in scenario["frames"]
    ]
    payload = _base(rng, target, timestamp_ms, ip, level="error")
    payload["exception"] = {
        "values": [
            {
                **scenario["exception"],
                "stacktrace": {"frames": frames},
                "mechanism": {"type": rng.choice(("onerror", "onunhandledrejection"))},
            }
        ]
    }
    if rng.random() < 0.5:
        image = {"type": "sourcemap", "code_file": url, "debug_id": demo["debug_id"]}
        payload["debug_meta"] = {"images": [image]}
    return payload


def js_message(rng: random.Random, timestamp_ms: int, ip: str) -> dict[str, Any]:
    payload = _base(rng, DEMO_RELEASES[0], timestamp_ms, ip, level=rng.choice(("warning", "info")))
    payload["message"] = rng.choice(JS_MESSAGES)
    return payload


def _base(
    rng: random.Random, target: DemoRelease, timestamp_ms: int, ip: str, level: str
) -> dict[str, Any]:
    browser = target.platform == "javascript"
    payload: dict[str, Any] = {
        "event_id": common.event_id(rng),
        "timestamp": common.sdk_timestamp(rng, timestamp_ms),
        "platform": target.platform,
        "level": level,
        "release": target.release,
        "environment": common.weighted(rng, common.ENVIRONMENTS),
        "tags": common.tags(rng),
        "user": common.user(rng, ip),
        "breadcrumbs": common.breadcrumbs(rng, timestamp_ms, web=browser),
        "sdk": {"name": target.sdk_name, "version": rng.choice(SDK_VERSIONS)},
    }
    if target.dist is not None:
        payload["dist"] = target.dist
    if browser:
        payload["request"] = {
            "url": "https://demo.example.com/checkout",
            "headers": {"User-Agent": rng.choice(common.USER_AGENTS)},
        }
        payload["contexts"] = {
            "browser": {"name": "Chrome", "version": "126.0.0"},
            "os": {"name": "Mac OS X", "version": "14.5"},
            "trace": common.trace_context(rng),
        }
    else:
        payload["server_name"] = f"api-{rng.randint(1, 3)}"
        payload["contexts"] = {
            "runtime": {"name": "node", "version": "v20.15.0"},
            "os": {"name": "Linux"},
            "trace": common.trace_context(rng),
        }
    return payload


def _rebase(url: str, origin: str) -> str:
    return origin + urlsplit(url).path
