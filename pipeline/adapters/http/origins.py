"""Allow-lists of origins a project lets the pipeline fetch from.

An entry is ``scheme://host[:port]``; the host may start with ``*.`` for any subdomain, and ``*``
alone allows every http(s) origin (the address checks still apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    """ASCII (IDNA) form, lower case, without a trailing dot."""
    port: int


@dataclass(frozen=True)
class OriginPattern:
    scheme: str
    host: str
    port: int
    any_subdomain: bool

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        """Raises ValueError with a sentence for the settings error message."""
        any_subdomain = "://*." in text
        try:
            parts = urlsplit(text.replace("://*.", "://", 1))
            port = parts.port
            host = (parts.hostname or "").rstrip(".").encode("idna").decode("ascii")
        except (ValueError, UnicodeError) as exc:
            raise ValueError(f"{text!r} is not an origin: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not host:
            raise ValueError(
                f"{text!r} is not an http or https origin like https://cdn.example.com"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(f"{text!r} must be an origin (scheme://host[:port]), without a path")
        return cls(scheme, host, port or DEFAULT_PORTS[scheme], any_subdomain)

    def matches(self, origin: Origin) -> bool:
        if (origin.scheme, origin.port) != (self.scheme, self.port):
            return False
        if self.any_subdomain:
            return origin.host.endswith("." + self.host)
        return origin.host == self.host


@dataclass(frozen=True)
class OriginAllowList:
    patterns: tuple[OriginPattern, ...]
    allow_all: bool = False

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> OriginAllowList:
        allow_all = "*" in entries
        return cls(tuple(OriginPattern.parse(e) for e in entries if e != "*"), allow_all)

    def allows(self, origin: Origin) -> bool:
        if origin.scheme not in DEFAULT_PORTS:
            return False
        return self.allow_all or any(p.matches(origin) for p in self.patterns)
