"""DSN authentication: the public key from ``X-Sentry-Auth`` (or ``sentry_key=`` in the query,
as browser SDKs send it) must be one the project lists. Nothing unauthenticated reaches Kafka."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

AUTH_HEADER = "x-sentry-auth"
_SENTRY_KEY = re.compile(r"(?:^|[\s,])sentry_key[ \t]*=[ \t]*([^,\s]*)")
"""``Sentry sentry_key=abc, sentry_version=7``: one search, where splitting every field cost
as much as the rest of authentication."""


class AuthError(Exception):
    """``status`` is 401 (no or malformed credentials) or 403 (a key this project refuses)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Keys:
    """Project id to its accepted public keys, from ``edge.projects``."""

    projects: Mapping[int, Sequence[str]]

    def check(self, project_id: int, public_key: str) -> None:
        keys = self.projects.get(project_id)
        if keys is None:
            raise AuthError(403, f"unknown project {project_id}")
        if public_key not in keys:
            raise AuthError(403, "this public key is not valid for the project")


def public_key(headers: Mapping[str, str], query_string: str) -> str:
    """The ``sentry_key`` of the request; raises AuthError(401) when there is none.

    The query string is parsed only when the header has no key: SDKs other than the browser's
    send the header, and parsing every request's query cost the edge about 4% of its CPU."""
    header = headers.get(AUTH_HEADER)
    found = _SENTRY_KEY.search(header) if header else None
    key = found[1] if found else None
    if not key and query_string:
        key = parse_qs(query_string).get("sentry_key", [""])[-1]
    if not key:
        raise AuthError(401, "missing sentry_key (X-Sentry-Auth header or sentry_key parameter)")
    if len(key) > 64 or not key.isalnum():
        raise AuthError(401, "malformed sentry_key")
    return key
