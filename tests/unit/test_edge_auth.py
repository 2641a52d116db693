"""DSN authentication: header or query key, checked against the project's keys."""

from __future__ import annotations

import pytest

from pipeline.edge.auth import AuthError, Keys, public_key

KEY = "abc123"


def test_key_from_the_sentry_auth_header_or_the_query() -> None:
    header = {"x-sentry-auth": f"Sentry sentry_version=7, sentry_key={KEY}, sentry_client=x/1"}
    assert public_key(header, "") == KEY
    assert public_key({}, f"sentry_version=7&sentry_key={KEY}") == KEY


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-sentry-auth": "Sentry sentry_version=7"}, {"x-sentry-auth": "Sentry sentry_key=a;b"}],
)
def test_missing_or_malformed_keys_are_401(headers: dict[str, str]) -> None:
    with pytest.raises(AuthError) as info:
        public_key(headers, "")
    assert info.value.status == 401


def test_unknown_projects_and_keys_are_403() -> None:
    keys = Keys({1: [KEY]})
    keys.check(1, KEY)
    for project, key in [(2, KEY), (1, "other")]:
        with pytest.raises(AuthError) as info:
            keys.check(project, key)
        assert info.value.status == 403
