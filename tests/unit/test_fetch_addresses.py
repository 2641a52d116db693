"""Which addresses a fetch may connect to, judged after resolution (every spelling included)."""

from __future__ import annotations

import ipaddress

import pytest

from pipeline.adapters.http.addresses import (
    CLOUD_METADATA_ADDRESSES,
    blocked_reason,
    system_resolver,
)


def reason(text: str, *, allow_private: bool = False) -> str | None:
    address = ipaddress.ip_address(text)
    return blocked_reason(address, allow_private=allow_private, metadata=CLOUD_METADATA_ADDRESSES)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "not_global"),  # carrier-grade NAT
        ("192.0.2.1", "private"),  # documentation
        ("198.18.0.1", "private"),  # benchmarking
        ("169.254.1.1", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        # IPv6 forms that lead to an IPv4 host are judged by that host.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:8.8.8.8", None),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64
        ("64:ff9b::808:808", None),
        ("2002:7f00:1::", "loopback"),  # 6to4
        ("2002:a9fe:a9fe::", "metadata"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo client 127.0.0.1
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible
    ],
)
def test_address_table(address: str, expected: str | None) -> None:
    assert reason(address) == expected


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "fe80::1", "0.0.0.0"])
def test_allow_private_networks_lets_non_public_addresses_through(address: str) -> None:
    assert reason(address, allow_private=True) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_metadata_stays_blocked_with_private_networks_allowed(address: str) -> None:
    assert reason(address, allow_private=True) == "metadata"


@pytest.mark.parametrize(
    ("host", "resolved"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0x7f000001", "127.0.0.1"),  # hex
        ("0x7f.1", "127.0.0.1"),  # mixed
        ("017700000001", "127.0.0.1"),  # octal
        ("127.1", "127.0.0.1"),  # short form
        ("0", "0.0.0.0"),
        ("0251.0376.0251.0376", "169.254.169.254"),  # octal metadata
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
    ],
)
def test_odd_spellings_resolve_to_the_address_that_is_checked(host: str, resolved: str) -> None:
    """The resolver (not the URL text) decides, so every form the C library accepts is caught."""
    (address,) = system_resolver(host, 80)
    assert address == ipaddress.ip_address(resolved)
    assert reason(str(address)) is not None
