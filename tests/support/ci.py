"""What a test does when a tool it needs is missing: skip on a laptop, fail in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str, prepare: str) -> NoReturn:
    """Fail (CI=true) or skip, naming the command that provides what is missing."""
    if in_ci():
        pytest.fail(f"{reason}; CI needs these tests (`{prepare}`)", pytrace=False)
    pytest.skip(f"{reason}; run `{prepare}` to prepare them")
