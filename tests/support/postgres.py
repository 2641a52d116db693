"""A real PostgreSQL server for the test session, run from the installed binaries.

The server lives in a temporary directory, listens on a free port of 127.0.0.1 (its unix socket
in the same directory) and is stopped at the end of the session. As root, the server runs as
the ``postgres`` user, because initdb refuses root. A missing installation fails the tests with
the command that installs it: PostgreSQL tests are never skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

INSTALL_HINT = "run .ci/install-postgres.sh (installs Debian's postgresql package)"
SUPERUSER = "pipeline"


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin, else the folder of the real initdb on PATH
    (/usr/local/bin may hold wrappers or links, so links are resolved)."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    initdb = shutil.which("initdb")
    if initdb is not None:
        bindir = Path(initdb).resolve().parent
        if (bindir / "pg_ctl").exists():
            return bindir
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One server in ``root``; ``stop()`` and ``start()`` simulate an outage and a recovery."""

    def __init__(self, bindir: Path, root: Path, port: int, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.port = port
        self._run_as = run_as
        self.data_dir = root / "data"
        self.socket_dir = root / "socket"
        self.log_file = root / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def init(self) -> None:
        self.socket_dir.mkdir()
        if self._run_as is not None:
            for path in (self.root, self.socket_dir):
                shutil.chown(path, user=self._run_as)
        self._run(
            "initdb",
            *("-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust"),
            *("--encoding=UTF8", "--no-locale", "--no-sync"),
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections (no-op when running)."""
        if self.running():
            return
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            *("-D", str(self.data_dir), "-l", str(self.log_file), "-o", options),
            *("-w", "-t", "60", "start"),
        )

    def stop(self) -> None:
        """Fast shutdown: sessions are disconnected, as in a real outage; waits for exit."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        status = self._command("pg_ctl", "-D", str(self.data_dir), "status")
        return subprocess.run(status, capture_output=True, cwd=self.root).returncode == 0

    def create_database(self) -> str:
        """A new, empty database; returns its DSN."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bindir / program), *args]
        if self._run_as is None:
            return command
        return ["runuser", "-u", self._run_as, "--", *command]

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            self._command(program, *args), capture_output=True, text=True, cwd=self.root
        )
        if done.returncode != 0:
            log = (
                self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""
            )
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}\n--- server log ---\n{log}"
            )


def _unprivileged_user() -> str | None:
    """Who runs the server: nobody special unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        pytest.fail(
            f"running as root and there is no 'postgres' user to run PostgreSQL: {INSTALL_HINT}"
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(f"PostgreSQL is not installed (no initdb found): {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="pipeline-pg-"))
    server = PostgresServer(bindir, root, free_port(), _unprivileged_user())
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            if server.data_dir.exists() and server.running():
                server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A database on the session's server, shared by the whole session."""
    return postgres_server.create_database()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database for one test (the server restarted if a test left it stopped)."""
    postgres_server.start()
    dsn = postgres_server.create_database()
    yield dsn
    postgres_server.start()
    postgres_server.drop_database(dsn)
