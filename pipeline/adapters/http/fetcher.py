"""GET a URL from the internet without letting it reach private networks.

Each hop (the URL and every redirect) is checked against the project's origin allow-list, the
host's circuit breaker and the addresses its name resolves to; the connection then goes to the
address that was checked (the URL carries the IP, the Host header and TLS SNI carry the name), so
a second DNS answer cannot redirect it. Bodies are streamed and cut off at a size limit.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import httpx
import structlog

from pipeline.adapters.http.addresses import (
    CLOUD_METADATA_ADDRESSES,
    IPAddress,
    Resolver,
    blocked_reason,
    system_resolver,
)
from pipeline.adapters.http.breaker import HostCircuitBreaker
from pipeline.adapters.http.origins import DEFAULT_PORTS, Origin, OriginAllowList

log = structlog.get_logger()


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    total_timeout_s: float = 10.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 3
    host_failure_limit: int = 5
    host_failure_window_s: float = 60.0
    host_cooldown_s: float = 120.0
    user_agent: str = "pipeline-symbolicate/0.1"


@dataclass(frozen=True)
class FetchPolicy:
    """What one project allows: which origins, and whether private addresses are fine."""

    origins: OriginAllowList
    allow_private_networks: bool = False


@dataclass(frozen=True)
class FetchResponse:
    url: str
    """The URL that answered, after redirects: relative references resolve against it."""
    headers: httpx.Headers
    body: bytes


class FetchError(Exception):
    """A fetch that did not produce a body; ``kind`` is short and stable (``timeout``, ...)."""

    def __init__(self, kind: str, detail: str, *, host_failure: bool = False) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.host_failure = host_failure
        """Counts against the host's circuit breaker (the host, not the request, is at fault)."""


class Fetcher(Protocol):
    def fetch(self, url: str, policy: FetchPolicy) -> FetchResponse: ...


class SafeFetcher:
    """Thread-safe; one instance serves every project (the policy comes with each call)."""

    def __init__(
        self,
        limits: FetchLimits,
        *,
        resolver: Resolver = system_resolver,
        metadata_addresses: Iterable[IPAddress] | None = None,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``ssl_context`` replaces the default trust store (certifi), e.g. for a private CA."""
        self._limits = limits
        self._resolver = resolver
        self._metadata = frozenset(
            CLOUD_METADATA_ADDRESSES if metadata_addresses is None else metadata_addresses
        )
        self._clock = clock
        self.breaker = HostCircuitBreaker(
            max_failures=limits.host_failure_limit,
            window_s=limits.host_failure_window_s,
            cooldown_s=limits.host_cooldown_s,
            clock=clock,
        )
        # No proxies from the environment (a proxy would resolve names itself) and no pooled
        # connections (a pooled connection to an IP could serve another name on that IP).
        self._client = httpx.Client(
            transport=transport,
            verify=ssl_context if ssl_context is not None else True,
            limits=httpx.Limits(max_keepalive_connections=0),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": limits.user_agent, "Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        self._client.close()

    def fetch(self, url: str, policy: FetchPolicy) -> FetchResponse:
        deadline = self._clock() + self._limits.total_timeout_s
        try:
            current = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchError("invalid_url", f"{url}: {exc}") from None
        for _ in range(self._limits.max_redirects + 1):
            result = self._hop(current, policy, deadline)
            if isinstance(result, FetchResponse):
                return result
            current = result
        raise FetchError("too_many_redirects", f"{url}: more than {self._limits.max_redirects}")

    def _hop(
        self, url: httpx.URL, policy: FetchPolicy, deadline: float
    ) -> FetchResponse | httpx.URL:
        if url.scheme not in DEFAULT_PORTS or not url.host:
            raise FetchError("invalid_url", f"{url} is not an http(s) URL")
        if not policy.origins.allows(_origin(url)):
            raise FetchError("origin_not_allowed", f"{url} is not in the project's allowed origins")
        host = _ascii_host(url)
        if not self.breaker.allows(host):
            raise FetchError("circuit_open", f"{host} failed repeatedly and is skipped for now")
        try:
            return self._request(url, policy, deadline)
        except FetchError as exc:
            if exc.host_failure and self.breaker.record_failure(host):
                log.warning("fetch.host_circuit_opened", host=host, kind=exc.kind)
            raise

    def _request(
        self, url: httpx.URL, policy: FetchPolicy, deadline: float
    ) -> FetchResponse | httpx.URL:
        address = self._checked_address(url, policy)
        request = self._client.build_request(
            "GET",
            url.copy_with(host=str(address)),
            headers={"Host": _host_header(url)},
            timeout=self._timeout(deadline),
            extensions={"sni_hostname": _ascii_host(url)} if url.scheme == "https" else None,
        )
        try:
            response = self._client.send(request, stream=True)
            try:
                if response.is_redirect:
                    # httpx has already parsed Location (a bad one is a RemoteProtocolError).
                    return url.join(response.headers["Location"])
                _check_status(url, response.status_code)
                body = self._read_body(url, response, deadline)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", f"{url}: {type(exc).__name__}", host_failure=True) from None
        except httpx.ConnectError as exc:
            raise FetchError("connect_error", f"{url}: {exc}", host_failure=True) from None
        except httpx.HTTPError as exc:
            raise FetchError("network_error", f"{url}: {exc!r}", host_failure=True) from None
        self.breaker.record_success(_ascii_host(url))
        return FetchResponse(url=str(url), headers=response.headers, body=body)

    def _checked_address(self, url: httpx.URL, policy: FetchPolicy) -> IPAddress:
        """Resolves once; every address must pass, and the first is the one connected to."""
        host = _ascii_host(url)
        try:
            addresses = self._resolver(host, url.port or DEFAULT_PORTS[url.scheme])
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError("dns_error", f"{host}: {exc}", host_failure=True) from None
        if not addresses:
            raise FetchError("dns_error", f"{host} has no addresses", host_failure=True)
        for address in addresses:
            reason = blocked_reason(
                address, allow_private=policy.allow_private_networks, metadata=self._metadata
            )
            if reason is not None:
                raise FetchError("blocked_address", f"{host} resolves to {address} ({reason})")
        return addresses[0]

    def _timeout(self, deadline: float) -> httpx.Timeout:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise FetchError("timeout", "total timeout spent before the request", host_failure=True)
        limits = self._limits
        read = min(limits.read_timeout_s, remaining)
        return httpx.Timeout(
            connect=min(limits.connect_timeout_s, remaining), read=read, write=read, pool=remaining
        )

    def _read_body(self, url: httpx.URL, response: httpx.Response, deadline: float) -> bytes:
        limit = self._limits.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError("too_large", f"{url}: Content-Length {declared} > {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError("too_large", f"{url}: body exceeds {limit} bytes")
            if self._clock() > deadline:
                raise FetchError(
                    "timeout", f"{url}: total timeout while reading", host_failure=True
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _check_status(url: httpx.URL, status: int) -> None:
    if status < 400:
        return
    # 5xx and 429 say the host is struggling; a 404 only says this file is missing.
    raise FetchError(f"http_{status}", str(url), host_failure=status >= 500 or status == 429)


def _origin(url: httpx.URL) -> Origin:
    return Origin(url.scheme, _ascii_host(url), url.port or DEFAULT_PORTS[url.scheme])


def _ascii_host(url: httpx.URL) -> str:
    """The host as DNS and TLS see it (IDNA-encoded, lower case, no trailing dot)."""
    return url.raw_host.decode("ascii").lower().rstrip(".")


def _host_header(url: httpx.URL) -> str:
    host = url.raw_host.decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return host if url.port is None else f"{host}:{url.port}"
