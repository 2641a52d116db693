"""Python SDK events: Django request errors with stack traces, and logging messages.

A fixed set of crash sites keeps the number of groups small and stable, as in a real project
where the same few bugs fire over and over.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pipeline.generator import common

RELEASES = ("backend@2.3.0", "backend@2.3.1", "backend@2.4.0")
SDK_VERSIONS = ("2.14.0", "2.13.0", "1.45.0")
MODULES = {"django": "5.0.6", "psycopg": "3.1.19", "requests": "2.32.3", "sentry-sdk": "2.14.0"}


@dataclass(frozen=True)
class Site:
    """One frame: (module, function, line number, source line)."""

    module: str
    function: str
    lineno: int
    line: str

    def frame(self, in_app: bool) -> dict[str, Any]:
        path = self.module.replace(".", "/") + ".py"
        root = "/srv/app/" if in_app else "/usr/local/lib/python3.11/site-packages/"
        frame: dict[str, Any] = {
            "filename": path,
            "abs_path": root + path,
            "module": self.module,
            "function": self.function,
            "lineno": self.lineno,
            "context_line": self.line,
            "in_app": in_app,
        }
        if in_app:
            frame["pre_context"] = [
                f"def {self.function}(request):",
                "    cart = load_cart(request)",
            ]
            frame["post_context"] = ["", "    return render(request, 'cart.html')"]
        return frame


DJANGO = (
    Site("django.core.handlers.exception", "inner", 55, "response = get_response(request)"),
    Site("django.core.handlers.base", "_get_response", 197, "response = wrapped_callback(request)"),
)


@dataclass(frozen=True)
class Crash:
    type: str
    values: tuple[str, ...]
    sites: tuple[Site, ...]
    """App frames, outermost first (after the framework's)."""
    module: str = "builtins"
    cause: tuple[str, str] | None = None
    """A chained exception (type, value) raised first, e.g. by a library."""


CRASHES = (
    Crash(
        "KeyError",
        ("'sku'", "'quantity'"),
        (
            Site("shop.views.cart", "add_item", 41, "item = build_item(request.POST)"),
            Site("shop.cart.items", "build_item", 17, "sku = data['sku']"),
        ),
    ),
    Crash(
        "ZeroDivisionError",
        ("division by zero",),
        (
            Site("shop.views.checkout", "summary", 63, "totals = compute_totals(cart)"),
            Site("shop.pricing", "average_price", 88, "return total / len(cart.items)"),
        ),
    ),
    Crash(
        "OperationalError",
        ('connection to server at "db" (10.0.0.5), port 5432 failed: timeout expired',),
        (
            Site("shop.views.orders", "history", 29, "orders = list(Order.objects.for_user(u))"),
            Site("shop.models.orders", "for_user", 112, "return self.filter(user=user)"),
        ),
        module="psycopg",
        cause=("TimeoutError", "timed out"),
    ),
    Crash(
        "ValueError",
        ("invalid literal for int() with base 10: 'abc'", "invalid literal for int(): ''"),
        (
            Site("shop.api.products", "list_products", 52, "page = parse_page(request.GET)"),
            Site("shop.api.params", "parse_page", 9, "return int(params.get('page', 1))"),
        ),
    ),
    Crash(
        "AttributeError",
        ("'NoneType' object has no attribute 'id'",),
        (
            Site("shop.views.account", "profile", 34, "return render_profile(request.user)"),
            Site("shop.auth", "render_profile", 71, "key = f'profile:{user.profile.id}'"),
        ),
    ),
    Crash(
        "ConnectionError",
        ("HTTPSConnectionPool(host='payments.example.com', port=443): Max retries exceeded",),
        (
            Site("shop.views.checkout", "pay", 95, "charge = payments.charge(order)"),
            Site("shop.payments.client", "charge", 44, "resp = self.session.post(url, json=body)"),
        ),
        module="requests.exceptions",
    ),
)

LOG_MESSAGES = (
    ("Payment provider %s returned %s", ("stripe", "502")),
    ("Slow query on %s took %sms", ("orders", "2310")),
    ("Retrying webhook delivery to %s", ("https://hooks.example.com/order",)),
)


def python_error(rng: random.Random, timestamp_ms: int, ip: str) -> dict[str, Any]:
    crash = rng.choice(CRASHES)
    frames = [s.frame(False) for s in DJANGO] + [s.frame(True) for s in crash.sites]
    main: dict[str, Any] = {
        "type": crash.type,
        "value": rng.choice(crash.values),
        "module": crash.module,
        "stacktrace": {"frames": frames},
        "mechanism": {"type": "django", "handled": False},
    }
    values = [main]
    if crash.cause is not None:
        cause_type, cause_value = crash.cause
        values.insert(0, {"type": cause_type, "value": cause_value, "module": "builtins"})
    payload = _base(rng, timestamp_ms, ip, level=common.weighted(rng, _ERROR_LEVELS))
    payload["exception"] = {"values": values}
    payload["transaction"] = "/" + crash.sites[0].module.rsplit(".", 1)[-1] + "/"
    return payload


def python_message(rng: random.Random, timestamp_ms: int, ip: str) -> dict[str, Any]:
    template, params = rng.choice(LOG_MESSAGES)
    payload = _base(rng, timestamp_ms, ip, level=rng.choice(("warning", "info", "error")))
    payload["logentry"] = {
        "message": template,
        "params": list(params),
        "formatted": template % params,
    }
    payload["logger"] = "shop.jobs"
    return payload


_ERROR_LEVELS = (("error", 0.9), ("fatal", 0.05), ("warning", 0.05))


def _base(rng: random.Random, timestamp_ms: int, ip: str, level: str) -> dict[str, Any]:
    version = rng.choice(SDK_VERSIONS)
    return {
        "event_id": common.event_id(rng),
        "timestamp": common.sdk_timestamp(rng, timestamp_ms),
        "platform": "python",
        "level": level,
        "logger": "django.request",
        "server_name": f"web-{rng.randint(1, 4)}",
        "release": rng.choice(RELEASES),
        "environment": common.weighted(rng, common.ENVIRONMENTS),
        "tags": common.tags(rng),
        "user": common.user(rng, ip),
        "request": {
            "url": "https://shop.example.com/checkout/",
            "method": rng.choice(("GET", "POST")),
            "query_string": "step=payment",
            "headers": {"User-Agent": rng.choice(common.USER_AGENTS), "Accept": "text/html"},
            "data": {"email": "user@example.com", "password": "hunter2"},
        },
        "breadcrumbs": common.breadcrumbs(rng, timestamp_ms, web=False),
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.11.9"},
            "os": {"name": "Linux", "kernel_version": "6.1.0"},
            "trace": common.trace_context(rng),
        },
        "modules": dict(MODULES),
        "sdk": {
            "name": "sentry.python.django",
            "version": version,
            "integrations": ["django", "logging", "stdlib"],
            "packages": [{"name": "pypi:sentry-sdk", "version": version}],
        },
    }
