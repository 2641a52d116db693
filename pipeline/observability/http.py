"""One HTTP port per process: /healthz (alive), /readyz (ready for traffic), /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

Check = Callable[[], tuple[bool, str]]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes hit these endpoints every few seconds; access logs would drown real events."""


class HealthServer:
    def __init__(
        self,
        port: int,
        registry: CollectorRegistry,
        alive: Check,
        ready: Check,
        host: str = "0.0.0.0",
    ) -> None:
        metrics_app = make_wsgi_app(registry)
        checks = {"/healthz": alive, "/readyz": ready}

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            check = checks.get(path)
            if check is None:
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            ok, detail = check()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{'ok' if ok else 'not ok'}: {detail}\n".encode()]

        self._server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
