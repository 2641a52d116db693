"""The HTTP side: one page, its script and style, and the JSON it polls.

Everything is served from the package (no CDN, no build step). The page takes no input, and the
Content-Security-Policy allows only this origin's own script and style.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

STATIC = files("pipeline.status_web") / "static"
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/status.js": ("status.js", "text/javascript; charset=utf-8"),
    "/status.css": ("status.css", "text/css; charset=utf-8"),
}
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
}


def create_app(
    document: Callable[[], dict[str, Any]],
    ready: Callable[[], tuple[bool, str]],
    registry: CollectorRegistry,
) -> Starlette:
    """``document``: the latest `/api/status` JSON, ``ready`` the readiness check (both from
    StatusCollector); /healthz, /readyz and /metrics as on every stage's health port."""

    def asset(name: str, media_type: str) -> Callable[[Request], Response]:
        body = (STATIC / name).read_bytes()

        def serve(_: Request) -> Response:
            return Response(body, media_type=media_type, headers=HEADERS)

        return serve

    def status(_: Request) -> Response:
        return JSONResponse(document(), headers=HEADERS)

    def healthz(_: Request) -> Response:
        return PlainTextResponse("ok: serving\n")

    def readyz(_: Request) -> Response:
        ok, detail = ready()
        return PlainTextResponse(f"{'ok' if ok else 'not ok'}: {detail}\n", 200 if ok else 503)

    def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [Route(path, asset(name, media)) for path, (name, media) in ASSETS.items()]
    routes += [
        Route("/api/status", status),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    return Starlette(routes=routes)
