"""Fixture plugins: a real Kafka broker, PostgreSQL and Redis, started by the test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from tests.support.ci import in_ci

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.postgres",
    "tests.support.browser",
    "tests.support.redis",
]


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    """A test that configures logging as the CLI does (level warning) must not hide the info
    events a later test captures: ``capture_logs`` swaps the processors, not the level filter."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


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
