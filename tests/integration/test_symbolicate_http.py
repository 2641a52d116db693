"""Symbolication over real HTTP against a loopback server: a slow map costs only its own call,
its timeout lands on the frame, and without allow_private_networks no request leaves at all."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.artifacts.store import ArtifactStore
from pipeline.adapters.http.addresses import IPAddress
from pipeline.adapters.http.fetcher import FetchError, FetchLimits, FetchPolicy, SafeFetcher
from pipeline.adapters.http.origins import OriginAllowList
from pipeline.stages.symbolicate.settings import (
    FetchSettings,
    ProjectFetchPolicy,
    SymbolicateSettings,
)
from pipeline.stages.symbolicate.symbolicator import Symbolicator
from tests.fixtures.js.events import DIST, scenario_event, scenarios, symbolication, upload

HOST = "cdn.test"  # only the test resolver knows it: a request that arrives proves pinning
MAP_DELAY_S = 3.0
TIMEOUT_S = 1.0


@dataclass
class FixtureServer:
    port: int
    delays: dict[str, float]
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(Host header, path) of every request, in arrival order."""
    arrived: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)
    handler: type[BaseHTTPRequestHandler] = BaseHTTPRequestHandler

    def origin(self, host: str = HOST) -> str:
        return f"http://{host}:{self.port}"

    def wait_for_request(self, path: str, timeout_s: float = 5.0) -> None:
        with self.arrived:
            if not self.arrived.wait_for(
                lambda: any(p == path for _, p in self.requests), timeout_s
            ):
                raise AssertionError(f"no request for {path} within {timeout_s}s")


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    state = FixtureServer(port=0, delays={})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.arrived:
                state.requests.append((self.headers["Host"], self.path))
                state.arrived.notify_all()
            state.release.wait(state.delays.get(self.path, 0.0))  # a slow server, not a test sleep
            file = DIST / Path(self.path).name
            if not file.is_file():
                self.send_error(404)
                return
            body = file.read_bytes()
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout), as intended

        def log_message(self, format: str, *args: Any) -> None:
            pass

    state.handler = Handler
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def resolve_test_host(host: str, port: int) -> list[IPAddress]:
    return [ipaddress.ip_address("127.0.0.1")]


def make_symbolicator(
    tmp_path: Path, server: FixtureServer, *, allow_private_networks: bool
) -> Symbolicator:
    policy = ProjectFetchPolicy(
        allowed_origins=(server.origin(),), allow_private_networks=allow_private_networks
    )
    settings = SymbolicateSettings(
        artifacts_dir=tmp_path / "artifacts",
        cache_dir=tmp_path / "cache",
        fetch=FetchSettings(projects={1: policy}),
    )
    fetcher = SafeFetcher(
        FetchLimits(
            connect_timeout_s=TIMEOUT_S, read_timeout_s=TIMEOUT_S, total_timeout_s=TIMEOUT_S
        ),
        resolver=resolve_test_host,
    )
    return Symbolicator(settings, fetcher=fetcher)


def remote_event(server: FixtureServer, scenario: str = "split") -> dict[str, Any]:
    event = scenario_event(scenarios("app"), scenario, release="remote")
    for frame in event["exceptions"][0]["frames"]:
        frame["abs_path"] = f"{server.origin()}/static/app.min.js"
    return event


def test_a_slow_map_delays_only_its_own_call_and_times_out_on_the_frame(
    tmp_path: Path, server: FixtureServer
) -> None:
    server.delays["/static/app.min.js.map"] = MAP_DELAY_S
    symbolicator = make_symbolicator(tmp_path, server, allow_private_networks=True)
    upload(ArtifactStore(tmp_path / "artifacts"), "app.min.js", "app.min.js.map", release="local")
    app = scenarios("app")

    finished: list[tuple[str, float]] = []
    lock = threading.Lock()

    def timed(name: str, event: dict[str, Any]) -> dict[str, Any]:
        result = symbolicator.symbolicate(event)
        with lock:
            finished.append((name, time.monotonic()))
        return result

    with ThreadPoolExecutor(8) as pool:
        started = time.monotonic()
        slow = pool.submit(timed, "slow", remote_event(server))
        server.wait_for_request("/static/app.min.js.map")  # the slow call is now blocked on I/O
        fast: list[Future[dict[str, Any]]] = [
            pool.submit(timed, f"fast-{i}", scenario_event(app, name, release="local"))
            for i, name in enumerate(["split", "quantity", "share"] * 2)
        ]
        fast_results = [f.result(10) for f in fast]
        slow_result = slow.result(10)

    order = [name for name, _ in finished]
    assert order[-1] == "slow", order
    done = dict(finished)
    assert max(t for n, t in finished if n != "slow") < done["slow"]
    assert done["slow"] - started >= TIMEOUT_S * 0.9
    assert done["slow"] - started < MAP_DELAY_S  # cut off by the timeout, not the server
    assert all(set(symbolication(r)) == {"ok"} for r in fast_results)

    assert set(symbolication(slow_result)) == {"fetch_failed:timeout"}
    (error,) = slow_result["errors"]
    assert (error["stage"], error["kind"]) == ("symbolicate", "fetch_failed:timeout")
    frame = slow_result["exceptions"][0]["frames"][0]
    assert frame["abs_path"] == f"{server.origin()}/static/app.min.js"
    assert frame["minified"] is None
    assert server.requests[:2] == [
        (f"{HOST}:{server.port}", "/static/app.min.js"),
        (f"{HOST}:{server.port}", "/static/app.min.js.map"),
    ]


def test_a_fetched_map_resolves_frames_and_is_not_fetched_again(
    tmp_path: Path, server: FixtureServer
) -> None:
    first = make_symbolicator(tmp_path, server, allow_private_networks=True)
    result = first.symbolicate(remote_event(server))
    assert set(symbolication(result)) == {"ok"}
    assert [f["function"] for f in result["exceptions"][0]["frames"]][-1] == "divide"
    assert len(server.requests) == 2

    second = make_symbolicator(tmp_path, server, allow_private_networks=True)
    assert second.symbolicate(remote_event(server, "quantity"))["errors"] == []
    assert len(server.requests) == 2  # served from the disk cache


def test_without_allow_private_networks_nothing_reaches_the_server(
    tmp_path: Path, server: FixtureServer
) -> None:
    symbolicator = make_symbolicator(tmp_path, server, allow_private_networks=False)
    result = symbolicator.symbolicate(remote_event(server))
    assert set(symbolication(result)) == {"fetch_failed:blocked_address"}
    assert "127.0.0.1 (loopback)" in result["errors"][0]["detail"]
    assert server.requests == []


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize(("served_name", "ok"), [(HOST, True), ("elsewhere.test", False)])
def test_tls_to_the_pinned_address_verifies_the_name(
    tmp_path: Path, server: FixtureServer, served_name: str, ok: bool
) -> None:
    """The connection goes to the checked IP, yet SNI and the certificate check use the name."""
    cert, key = self_signed(tmp_path, served_name)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    tls = ThreadingHTTPServer(("127.0.0.1", 0), server.handler)
    tls.socket = server_context.wrap_socket(tls.socket, server_side=True)
    thread = threading.Thread(target=tls.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        fetcher = SafeFetcher(
            FetchLimits(total_timeout_s=5),
            resolver=resolve_test_host,
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
        url = f"https://{HOST}:{tls.server_address[1]}/static/app.min.js"
        origins = OriginAllowList.parse([f"https://{HOST}:{tls.server_address[1]}"])
        policy = FetchPolicy(origins, allow_private_networks=True)
        if ok:
            assert fetcher.fetch(url, policy).body == (DIST / "app.min.js").read_bytes()
        else:
            with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
                fetcher.fetch(url, policy)
        fetcher.close()
    finally:
        tls.shutdown()
        tls.server_close()
        thread.join(5)
