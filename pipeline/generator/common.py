"""What SDKs of every platform attach to an event: ids, timestamps, user, tags, breadcrumbs.

Every function draws from the ``random.Random`` it is given, so a seed replays the same events.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

ENVIRONMENTS = (("production", 0.7), ("staging", 0.2), ("development", 0.1))
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
TIERS = ("free", "team", "business", "enterprise")
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
)


def weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    names = [name for name, _ in choices]
    return rng.choices(names, weights=[w for _, w in choices])[0]


def event_id(rng: random.Random) -> str:
    """A version-4 UUID in the 32-hex form SDKs send."""
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def sdk_timestamp(rng: random.Random, ms: int) -> str | float:
    """SDKs send either epoch seconds or ISO 8601; both forms appear."""
    if rng.random() < 0.5:
        return round(ms / 1000, 3)
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def client_ip(rng: random.Random) -> str:
    """Documentation ranges only (RFC 5737)."""
    return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"


def user(rng: random.Random, ip: str) -> dict[str, Any]:
    n = rng.randint(1, 500)
    return {"id": str(n), "username": f"user{n}", "email": f"user{n}@example.com", "ip_address": ip}


def tags(rng: random.Random, **extra: str) -> dict[str, str]:
    found = {"region": rng.choice(REGIONS), "customer.tier": rng.choice(TIERS)}
    if rng.random() < 0.3:
        found["feature.checkout_v2"] = rng.choice(("on", "off"))
    return {**found, **extra}


def breadcrumbs(rng: random.Random, event_ms: int, web: bool) -> dict[str, Any]:
    """Zero to eight crumbs in the seconds before the event, oldest first."""
    count = rng.randint(0, 8)
    offsets = sorted((rng.uniform(0.05, 30.0) for _ in range(count)), reverse=True)
    crumbs = [_crumb(rng, event_ms - round(s * 1000), web) for s in offsets]
    return {"values": crumbs}


def _crumb(rng: random.Random, ms: int, web: bool) -> dict[str, Any]:
    kinds = ("navigation", "ui.click", "fetch") if web else ("query", "http", "log")
    category = rng.choice(kinds)
    crumb: dict[str, Any] = {"timestamp": round(ms / 1000, 3), "category": category}
    if category == "navigation":
        crumb["data"] = {"from": "/cart", "to": rng.choice(("/checkout", "/account", "/search"))}
    elif category == "ui.click":
        crumb["message"] = rng.choice(("button#checkout", "a.product-link", "input#coupon"))
    elif category in ("fetch", "http"):
        crumb["type"] = "http"
        status = rng.choice((200, 200, 200, 201, 404, 502))
        crumb["data"] = {"method": "GET", "url": "/api/cart", "status_code": status}
    elif category == "query":
        crumb["message"] = rng.choice(
            ("SELECT * FROM cart_items WHERE cart_id = %s", "UPDATE orders SET state = %s")
        )
    else:
        crumb["message"] = "cache miss for cart summary"
        crumb["level"] = "info"
    return crumb


def trace_context(rng: random.Random) -> dict[str, str]:
    return {"trace_id": f"{rng.getrandbits(128):032x}", "span_id": f"{rng.getrandbits(64):016x}"}
