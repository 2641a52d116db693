"""Origin allow-lists and the per-host circuit breaker."""

from __future__ import annotations

import pytest

from pipeline.adapters.http.breaker import HostCircuitBreaker
from pipeline.adapters.http.origins import Origin, OriginAllowList, OriginPattern


@pytest.mark.parametrize(
    ("entries", "origin", "allowed"),
    [
        (["https://cdn.example.com"], Origin("https", "cdn.example.com", 443), True),
        (["https://cdn.example.com/"], Origin("https", "cdn.example.com", 443), True),
        (["https://CDN.example.com."], Origin("https", "cdn.example.com", 443), True),
        (["https://cdn.example.com"], Origin("http", "cdn.example.com", 80), False),
        (["https://cdn.example.com"], Origin("https", "cdn.example.com", 8443), False),
        (["https://cdn.example.com:8443"], Origin("https", "cdn.example.com", 8443), True),
        (["https://cdn.example.com"], Origin("https", "evilcdn.example.com", 443), False),
        (["https://*.example.com"], Origin("https", "a.b.example.com", 443), True),
        (["https://*.example.com"], Origin("https", "example.com", 443), False),
        (["https://*.example.com"], Origin("https", "badexample.com", 443), False),
        (["http://127.0.0.1:8000"], Origin("http", "127.0.0.1", 8000), True),
        (["*"], Origin("https", "anything.test", 443), True),
        (["*"], Origin("ftp", "anything.test", 21), False),
        ([], Origin("https", "cdn.example.com", 443), False),
    ],
)
def test_allow_list(entries: list[str], origin: Origin, allowed: bool) -> None:
    assert OriginAllowList.parse(entries).allows(origin) is allowed


@pytest.mark.parametrize(
    "entry",
    [
        "cdn.example.com",
        "ftp://cdn.example.com",
        "https://cdn.example.com/static",
        "https://",
        "https://user@cdn.example.com",
        "https://cdn.example.com:99999",
    ],
)
def test_bad_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        OriginPattern.parse(entry)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_n_failures_within_the_window() -> None:
    clock = Clock()
    breaker = HostCircuitBreaker(max_failures=3, window_s=10, cooldown_s=60, clock=clock)
    assert breaker.record_failure("a") is False
    clock.now = 5
    assert breaker.record_failure("a") is False
    clock.now = 11  # the first failure left the window
    assert breaker.record_failure("a") is False
    assert breaker.allows("a")
    assert breaker.record_failure("a") is True
    assert not breaker.allows("a")
    assert breaker.allows("b")
    clock.now = 11 + 59.9
    assert not breaker.allows("a")
    clock.now = 11 + 60
    assert breaker.allows("a")


def test_success_resets_the_count() -> None:
    clock = Clock()
    breaker = HostCircuitBreaker(max_failures=2, window_s=10, cooldown_s=60, clock=clock)
    breaker.record_failure("a")
    breaker.record_success("a")
    assert breaker.record_failure("a") is False
    assert breaker.allows("a")
