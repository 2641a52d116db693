"""Fixture plugins: a real Kafka broker, PostgreSQL and Redis, started by the test session."""

from __future__ import annotations

import pytest

from tests.support.ci import in_ci

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.postgres",
    "tests.support.browser",
    "tests.support.redis",
]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: a suite that skips its broker tests proves nothing."""
    if not in_ci():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped and exitstatus == 0:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
