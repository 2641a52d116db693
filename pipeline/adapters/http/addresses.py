"""Which resolved addresses a fetch may connect to: public unicast only, unless configured.

Checks run on the addresses DNS returned (never on the host text), so every spelling a resolver
accepts (``2130706433``, ``0x7f.1``, ``::ffff:127.0.0.1``) is judged by where it really leads.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[IPAddress]]

CLOUD_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host`` (raises ``socket.gaierror``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels or translates to, where one is embedded."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(
    address: IPAddress, *, allow_private: bool, metadata: Iterable[IPAddress]
) -> str | None:
    """Why a connection to ``address`` is refused, or None when it may go ahead.

    Cloud metadata endpoints stay blocked even where private networks are allowed: no source map
    lives there, and they hand out credentials.
    """
    inner = embedded_ipv4(address)
    blocked_metadata = set(metadata)
    if address in blocked_metadata or inner in blocked_metadata:
        return "metadata"
    if allow_private:
        return None
    # An IPv6 address that carries an IPv4 one is judged by the IPv4 host it reaches.
    return _non_public_reason(address if inner is None else inner)


def _non_public_reason(address: IPAddress) -> str | None:
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link_local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not_global", not address.is_global),
    )
    return next((reason for reason, hit in checks if hit), None)
