"""The ceiling of the edge benchmark: an ASGI app that reads the body and answers 200 with no
work, served with the edge's own uvicorn options (`python -m benchmarks.edge_ceiling PORT`)."""

from __future__ import annotations

import sys

import uvicorn
from starlette.types import Receive, Scope, Send

from pipeline.config import Settings
from pipeline.edge.server import uvicorn_config

_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


async def ceiling(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # the edge reads every body too
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})


def main() -> None:
    uvicorn.Server(uvicorn_config(ceiling, Settings(), port=int(sys.argv[1]))).run()


if __name__ == "__main__":
    main()
