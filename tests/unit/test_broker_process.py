"""Only a process whose command line proves it is ours is ever signalled."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.kafka.broker.process import command_line, is_ours, terminate


@pytest.fixture
def pretend_broker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A sleeping python whose arguments look like a broker's."""
    marker = str(tmp_path / "server.properties")
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "kafka.Kafka", marker]
    )
    deadline = time.monotonic() + 5  # /proc shows the new arguments a moment after exec
    while marker not in command_line(child.pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    yield child
    child.kill()
    child.wait()


def markers_of(child: subprocess.Popen[bytes]) -> tuple[str, str]:
    return "kafka.Kafka", str(child.args[-1])  # type: ignore[index]


def test_command_line_of_a_live_process(pretend_broker: subprocess.Popen[bytes]) -> None:
    assert command_line(pretend_broker.pid)[-2:] == list(markers_of(pretend_broker))


def test_is_ours_needs_every_marker(pretend_broker: subprocess.Popen[bytes]) -> None:
    assert is_ours(pretend_broker.pid, markers_of(pretend_broker))
    assert not is_ours(pretend_broker.pid, ("kafka.Kafka", "/other/server.properties"))


def test_terminate_stops_our_process(pretend_broker: subprocess.Popen[bytes]) -> None:
    assert terminate(pretend_broker.pid, markers_of(pretend_broker), grace_s=5)

    assert pretend_broker.wait(timeout=5) == -15  # SIGTERM was enough


def test_terminate_refuses_a_process_that_is_not_ours(
    pretend_broker: subprocess.Popen[bytes],
) -> None:
    assert not terminate(pretend_broker.pid, ("kafka.Kafka", "/other/server.properties"), 5)

    assert pretend_broker.poll() is None


def test_a_reaped_process_is_not_ours(pretend_broker: subprocess.Popen[bytes]) -> None:
    markers = markers_of(pretend_broker)
    pretend_broker.kill()
    pretend_broker.wait()

    assert command_line(pretend_broker.pid) == []
    assert not terminate(pretend_broker.pid, markers, 5)
