"""A real Redis server for the test session, run from Debian's ``redis-server``.

It listens on a free port of 127.0.0.1 without persistence, in a temporary directory, and is
stopped at the end of the session. A missing installation fails the tests with the command that
installs it: Redis tests are never skipped. ``stop()`` and ``start()`` simulate an outage.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import free_port

INSTALL_HINT = "run .ci/install-redis.sh (installs Debian's redis-server package)"


class RedisServer:
    def __init__(self, binary: str, root: Path, port: int) -> None:
        self.binary = binary
        self.root = root
        self.port = port
        self.log_file = root / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the server and wait until it accepts connections (no-op when running)."""
        if self._process is not None and self._process.poll() is None:
            return
        command = [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--dir", str(self.root), "--logfile", str(self.log_file)),
        ]
        self._process = subprocess.Popen(command, cwd=self.root)
        deadline = time.monotonic() + timeout_s
        while not self._answers_ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self._log_tail()
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _log_tail(self) -> str:
        if not self.log_file.exists():
            return ""
        return self.log_file.read_text(errors="replace")[-3000:]

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(f"Redis is not installed (no redis-server on PATH): {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="pipeline-redis-"))
    server = RedisServer(binary, root, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's server, running (restarted if a test left it stopped)."""
    redis_server.start()
    return redis_server.url
