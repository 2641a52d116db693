"""SafeFetcher over httpx's MockTransport: pinning, allow-list, redirects, limits, breaker."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from pipeline.adapters.http.addresses import IPAddress
from pipeline.adapters.http.fetcher import FetchError, FetchLimits, FetchPolicy, SafeFetcher
from pipeline.adapters.http.origins import OriginAllowList

PUBLIC = "93.184.216.34"
DNS = {
    "cdn.example.com": [PUBLIC],
    "assets.example.com": ["93.184.216.35"],
    "internal.example.com": ["10.0.0.7"],
    "mixed.example.com": [PUBLIC, "127.0.0.1"],
    "other.example.org": ["93.184.216.36"],
}
POLICY = FetchPolicy(OriginAllowList.parse(["https://cdn.example.com", "https://*.example.com"]))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Resolver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        if host not in DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in DNS[host]]


class Server:
    """Routes by the Host header, the way a virtual-hosting server would."""

    def __init__(self, routes: dict[str, Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(f"{request.headers['host']}{request.url.path}")
        return httpx.Response(404) if route is None else route(request)


def ok(body: bytes = b"body", **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, content=body, headers=headers)


def redirect(location: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(302, headers={"Location": location})


def make(
    server: Server, *, clock: FakeClock | None = None, **limits: float
) -> tuple[SafeFetcher, Resolver]:
    resolver = Resolver()
    fetcher = SafeFetcher(
        FetchLimits(**limits),  # type: ignore[arg-type]
        resolver=resolver,
        clock=clock or FakeClock(),
        transport=httpx.MockTransport(server),
    )
    return fetcher, resolver


def kind_of(fetcher: SafeFetcher, url: str, policy: FetchPolicy = POLICY) -> str:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url, policy)
    return info.value.kind


def test_connects_to_the_checked_address_with_the_name_in_host_and_sni() -> None:
    server = Server({"cdn.example.com/app.js": ok(b"var a;", SourceMap="app.js.map")})
    fetcher, resolver = make(server)
    response = fetcher.fetch("https://cdn.example.com/app.js", POLICY)
    (request,) = server.requests
    assert request.url.host == PUBLIC
    assert request.headers["host"] == "cdn.example.com"
    assert request.extensions["sni_hostname"] == "cdn.example.com"
    assert resolver.calls == ["cdn.example.com"]
    assert (response.url, response.body) == ("https://cdn.example.com/app.js", b"var a;")
    assert response.headers["sourcemap"] == "app.js.map"


def test_explicit_ports_stay_in_the_host_header() -> None:
    server = Server({"cdn.example.com:8443/a.js": ok()})
    fetcher, _ = make(server)
    policy = FetchPolicy(OriginAllowList.parse(["https://cdn.example.com:8443"]))
    fetcher.fetch("https://cdn.example.com:8443/a.js", policy)
    assert server.requests[0].url.port == 8443


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://other.example.org/a.js", "origin_not_allowed"),
        ("http://cdn.example.com/a.js", "origin_not_allowed"),  # scheme is part of the origin
        ("https://cdn.example.com:444/a.js", "origin_not_allowed"),
        ("https://internal.example.com/a.js", "blocked_address"),
        ("https://mixed.example.com/a.js", "blocked_address"),  # one bad address is enough
        ("https://unknown.example.com/a.js", "dns_error"),
        ("file:///etc/passwd", "invalid_url"),
        ("https://[::1/a.js", "invalid_url"),
    ],
)
def test_refused_before_any_request(url: str, kind: str) -> None:
    server = Server({})
    fetcher, _ = make(server)
    assert kind_of(fetcher, url) == kind
    assert server.requests == []


def test_private_addresses_are_fine_when_the_project_allows_them() -> None:
    server = Server({"internal.example.com/a.js": ok()})
    fetcher, _ = make(server)
    policy = FetchPolicy(POLICY.origins, allow_private_networks=True)
    assert fetcher.fetch("https://internal.example.com/a.js", policy).body == b"body"
    assert server.requests[0].url.host == "10.0.0.7"


def test_redirects_are_followed_and_each_hop_is_checked() -> None:
    server = Server(
        {
            "cdn.example.com/a.js": redirect("/v2/a.js"),
            "cdn.example.com/v2/a.js": redirect("https://assets.example.com/a.js"),
            "assets.example.com/a.js": ok(b"final"),
        }
    )
    fetcher, resolver = make(server)
    response = fetcher.fetch("https://cdn.example.com/a.js", POLICY)
    assert (response.url, response.body) == ("https://assets.example.com/a.js", b"final")
    assert resolver.calls == ["cdn.example.com", "cdn.example.com", "assets.example.com"]
    assert server.requests[-1].url.host == "93.184.216.35"


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("https://internal.example.com/a.js", "blocked_address"),
        ("https://other.example.org/a.js", "origin_not_allowed"),
        ("http://169.254.169.254/latest/meta-data/", "origin_not_allowed"),
        ("file:///etc/passwd", "invalid_url"),
    ],
)
def test_a_redirect_cannot_escape_the_checks(location: str, kind: str) -> None:
    server = Server({"cdn.example.com/a.js": redirect(location)})
    fetcher, _ = make(server)
    assert kind_of(fetcher, "https://cdn.example.com/a.js") == kind
    assert len(server.requests) == 1


def test_redirects_are_capped() -> None:
    server = Server({"cdn.example.com/loop": redirect("/loop")})
    fetcher, _ = make(server, max_redirects=2)
    assert kind_of(fetcher, "https://cdn.example.com/loop") == "too_many_redirects"
    assert len(server.requests) == 3


def test_declared_size_over_the_limit_is_refused_unread() -> None:
    server = Server({"cdn.example.com/big.js": ok(b"x" * 101)})
    fetcher, _ = make(server, max_bytes=100)
    assert kind_of(fetcher, "https://cdn.example.com/big.js") == "too_large"


def test_streamed_body_is_cut_off_past_the_limit() -> None:
    produced: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(1000):
            produced.append(i)
            yield b"x" * 10

    server = Server({"cdn.example.com/big.js": lambda r: httpx.Response(200, content=chunks())})
    fetcher, _ = make(server, max_bytes=100)
    assert kind_of(fetcher, "https://cdn.example.com/big.js") == "too_large"
    assert len(produced) < 20


def test_total_timeout_is_checked_while_reading() -> None:
    clock = FakeClock()

    def slow() -> Iterator[bytes]:
        for _ in range(10):
            clock.now += 3
            yield b"x"

    server = Server({"cdn.example.com/slow.js": lambda r: httpx.Response(200, content=slow())})
    fetcher, _ = make(server, clock=clock, total_timeout_s=10)
    assert kind_of(fetcher, "https://cdn.example.com/slow.js") == "timeout"


def test_transport_timeouts_and_errors_have_their_kinds() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    server = Server(
        {
            "cdn.example.com/t": timeout,
            "cdn.example.com/r": refused,
            "cdn.example.com/b": broken,
            "cdn.example.com/bad-redirect": redirect("https://[::1/x"),
        }
    )
    fetcher, _ = make(server)
    assert kind_of(fetcher, "https://cdn.example.com/t") == "timeout"
    assert kind_of(fetcher, "https://cdn.example.com/r") == "connect_error"
    assert kind_of(fetcher, "https://cdn.example.com/b") == "network_error"
    assert kind_of(fetcher, "https://cdn.example.com/bad-redirect") == "network_error"


def test_http_errors_are_reported_by_status() -> None:
    server = Server({"cdn.example.com/a.js": lambda r: httpx.Response(404)})
    fetcher, _ = make(server)
    assert kind_of(fetcher, "https://cdn.example.com/a.js") == "http_404"


def test_a_failing_host_is_skipped_for_the_cooldown_then_tried_again() -> None:
    clock = FakeClock()
    status = {"code": 503}
    server = Server({"cdn.example.com/a.js": lambda r: httpx.Response(status["code"])})
    fetcher, _ = make(
        server, clock=clock, host_failure_limit=3, host_failure_window_s=60, host_cooldown_s=30
    )
    url = "https://cdn.example.com/a.js"
    assert [kind_of(fetcher, url) for _ in range(3)] == ["http_503"] * 3
    assert kind_of(fetcher, url) == "circuit_open"
    assert kind_of(fetcher, "https://assets.example.com/x") == "http_404"  # per host
    assert len(server.requests) == 4

    clock.now += 30
    status["code"] = 200
    assert fetcher.fetch(url, POLICY).body == b""
    assert len(server.requests) == 5


def test_not_found_does_not_count_against_the_host() -> None:
    server = Server({"cdn.example.com/a.js": lambda r: httpx.Response(404)})
    fetcher, _ = make(server, host_failure_limit=2)
    for _ in range(5):
        assert kind_of(fetcher, "https://cdn.example.com/a.js") == "http_404"
    assert len(server.requests) == 5
