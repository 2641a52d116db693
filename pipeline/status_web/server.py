"""uvicorn on a thread of its own: `pipeline dev` keeps its terminal view on the main thread,
`pipeline status` waits for a signal there."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from pipeline.errors import UserError
from pipeline.status_web.app import create_app
from pipeline.status_web.collector import StatusCollector, StatusSources


class WebServer:
    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        """Binds at once, so a port in use is a clear error here and port 0 picks a free one."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            reason = exc.strerror or str(exc)
            raise UserError(f"cannot serve the status page on {host}:{port}: {reason}") from None
        self._host = host
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="status-web", daemon=True)

    @property
    def url(self) -> str:
        port = self._socket.getsockname()[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        if self._host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if self._host == "0.0.0.0" else "[::1]"
        return f"http://{host}:{port}/"

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._server.started:
            raise UserError(f"the status page did not start within {timeout_s:.0f} s")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))


@contextmanager
def serving(sources: StatusSources, host: str, port: int, interval_s: float) -> Iterator[str]:
    """The status page over ``sources`` while the block runs; yields its URL."""
    registry = CollectorRegistry()
    collector = StatusCollector(sources, registry, interval_s)
    server = WebServer(create_app(collector.latest, collector.ready, registry), host, port)
    collector.start()
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        collector.stop()
