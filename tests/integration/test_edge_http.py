"""The edge on a real broker: real uvicorn on loopback, httpx and the real Python SDK as
clients; accepted events land in events.raw (and the store), refusals write nothing."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.adapters.kafka.codec import make_codec
from pipeline.config import Settings
from pipeline.edge.settings import EdgeSettings
from tests.support.edge import edge_serving
from tests.support.pipeline import (
    decode_all,
    new_event_id,
    pipeline_settings,
    read_to_end,
)

pytestmark = pytest.mark.integration

PROJECT, KEY = 7, "0123456789abcdef0123456789abcdef"
AUTH = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={KEY}"}


@pytest.fixture
def settings(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> Settings:
    edge = EdgeSettings(
        port=0,
        projects={PROJECT: [KEY]},
        max_body_bytes=200_000,
        max_decompressed_bytes=400_000,
        max_event_age_s=3600,
        body_timeout_s=1.0,
    )
    return pipeline_settings(kafka_bootstrap, prefix, tmp_path, edge=edge)


@pytest.fixture
def edge(settings: Settings) -> Iterator[str]:
    with edge_serving(settings) as url:
        yield url


def raw_events(settings: Settings) -> list[dict[str, object]]:
    topic = settings.kafka.topic("events.raw")
    return decode_all(
        make_codec(settings.kafka),
        "raw_event",
        read_to_end(settings.kafka.bootstrap_servers or "", topic, timeout_s=5),
    )


def envelope(event: dict[str, object]) -> bytes:
    header = json.dumps({"event_id": event["event_id"]}).encode()
    return b"\n".join([header, b'{"type": "event"}', json.dumps(event).encode()]) + b"\n"


def test_accepted_events_are_on_the_broker_when_the_answer_comes(
    edge: str, settings: Settings
) -> None:
    ids = [new_event_id() for _ in range(3)]
    now = time.time()
    with httpx.Client(base_url=edge, headers=AUTH) as client:
        first = client.post(
            f"/api/{PROJECT}/envelope/", content=envelope({"event_id": ids[0], "timestamp": now})
        )
        second = client.post(
            f"/api/{PROJECT}/store/?sentry_key={KEY}",
            content=gzip.compress(json.dumps({"event_id": ids[1]}).encode()),
            headers={"Content-Encoding": "gzip", "X-Sentry-Auth": ""},
        )
        old = client.post(
            f"/api/{PROJECT}/store/",
            content=json.dumps({"event_id": ids[2], "timestamp": now - 7200}),
        )
        mixed = client.post(
            f"/api/{PROJECT}/envelope/",
            content=b'{}\n{"type": "transaction"}\n{}\n{"type": "attachment", "length": 2}\nab\n',
        )
    assert first.status_code == 200, first.text
    assert first.json()["id"] == ids[0]
    assert second.status_code == 200, second.text
    assert old.status_code == 200  # dropped as too old, still answered 200
    assert mixed.json() == {"id": None, "skipped": ["transaction", "attachment"]}
    # The answer came after the ack: the records are readable now, without waiting.
    stored = raw_events(settings)
    assert sorted((r["event_id"], r["project_id"]) for r in stored) == sorted(
        (i, PROJECT) for i in ids[:2]
    )
    received = stored[0]["received_at_ms"]
    assert isinstance(received, int) and abs(received / 1000 - now) < 30
    outcomes = decode_all(
        make_codec(settings.kafka),
        "outcome",
        read_to_end(
            settings.kafka.bootstrap_servers or "", settings.kafka.topic("outcomes"), timeout_s=5
        ),
    )
    assert [(o["event_id"], o["outcome"], o["reason"], o["stage"]) for o in outcomes] == [
        (ids[2], "filtered", "too_old", "edge")
    ]


def test_hostile_requests_are_refused_and_write_nothing(edge: str, settings: Settings) -> None:
    event = envelope({"event_id": new_event_id()})
    url = f"/api/{PROJECT}/envelope/"
    with httpx.Client(base_url=edge, timeout=10) as client:
        assert client.post(url, content=event).status_code == 401
        assert (
            client.post(
                url,
                content=event,
                headers={"X-Sentry-Auth": "Sentry sentry_key=ffffffffffffffffffffffffffffffff"},
            ).status_code
            == 403
        )
        assert client.post("/api/99/envelope/", content=event, headers=AUTH).status_code == 403
        truncated = gzip.compress(event)[:-10]
        bad_gzip = client.post(url, content=truncated, headers={**AUTH, "Content-Encoding": "gzip"})
        assert bad_gzip.status_code == 400
        deep = b'{}\n{"type": "event"}\n' + b"[" * 10_000 + b"]" * 10_000
        deep_answer = client.post(url, content=deep, headers=AUTH)
        assert deep_answer.status_code == 400
        assert deep_answer.json() == {"detail": "event is not valid JSON"}
        bomb = gzip.compress(b"\0" * 50_000_000)
        assert (
            client.post(url, content=bomb, headers={**AUTH, "Content-Encoding": "gzip"}).status_code
            == 413
        )
    assert raw_events(settings) == []
    outcomes = decode_all(
        make_codec(settings.kafka),
        "outcome",
        read_to_end(
            settings.kafka.bootstrap_servers or "", settings.kafka.topic("outcomes"), timeout_s=5
        ),
    )
    assert [(o["outcome"], o["reason"]) for o in outcomes] == [("invalid", "invalid_envelope")]


def _raw_request(port: int, head: bytes, body: bytes = b"", pause_s: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        if pause_s:
            time.sleep(pause_s)  # the slow client: deliberately sends nothing for a while
        return sock.recv(4096)


def test_large_lying_and_slow_bodies(edge: str, settings: Settings) -> None:
    port = int(edge.rsplit(":", 1)[1])
    auth = f"X-Sentry-Auth: Sentry sentry_key={KEY}\r\n".encode()
    start = b"POST /api/7/envelope/ HTTP/1.1\r\nHost: x\r\n" + auth
    # 50 MB announced: refused from the header, before a byte of the body is read.
    big = _raw_request(port, start + b"Content-Length: 50000000\r\n\r\n", b"x" * 1000)
    assert big.startswith(b"HTTP/1.1 413")
    # Fewer bytes than announced, then silence: the body timeout answers.
    started = time.monotonic()
    slow = _raw_request(port, start + b"Content-Length: 1000\r\n\r\n", b"{}", pause_s=3)
    assert slow.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 8
    assert raw_events(settings) == []
