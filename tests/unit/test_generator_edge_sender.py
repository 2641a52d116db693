"""The generator's HTTP sender honours the edge's pushback: a 429/503 is waited out, not lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.generator.factory import GeneratedRecord
from pipeline.generator.http_send import EdgeSender
from pipeline.generator.send import SendStats


class _PushbackEdge(ThreadingHTTPServer):
    """Answers the first ``refusals`` posts with ``status`` and ``Retry-After: 0``, then 200."""

    def __init__(self, refusals: int, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.refusals = refusals
        self.status = status
        self.posts = 0


class _Handler(BaseHTTPRequestHandler):
    server: _PushbackEdge

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts += 1
        refuse = self.server.posts <= self.server.refusals
        self.send_response(self.server.status if refuse else 200)
        if refuse:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _edge(refusals: int, status: int) -> Iterator[_PushbackEdge]:
    server = _PushbackEdge(refusals, status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _record() -> GeneratedRecord:
    record = {"project_id": 1, "payload": b'{"message": "x"}', "received_at_ms": 0}
    return GeneratedRecord(kind="event", platform="python", record=record)


def _send_one(server: _PushbackEdge, retry_for_s: float) -> SendStats:
    stats = SendStats()
    sender = EdgeSender(
        f"http://127.0.0.1:{server.server_address[1]}", {1: "k"}, stats, retry_for_s=retry_for_s
    )
    sender.send(_record())
    sender.flush(timeout_s=10.0)
    return stats


@pytest.mark.parametrize("status", [429, 503])
def test_a_refused_post_is_retried_until_the_edge_takes_it(status: int) -> None:
    with _edge(refusals=3, status=status) as server:
        stats = _send_one(server, retry_for_s=30.0)
        assert (stats.acknowledged, stats.failed, server.posts) == (1, 0, 4)


def test_a_post_refused_past_the_retry_budget_counts_as_failed() -> None:
    with _edge(refusals=10**9, status=429) as server:
        stats = _send_one(server, retry_for_s=0.3)
        assert (stats.acknowledged, stats.failed) == (0, 1)
        assert stats.first_error is not None and "429" in stats.first_error
