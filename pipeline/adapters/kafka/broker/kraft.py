"""A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import structlog

from pipeline.adapters.kafka.broker.kraft_files import (
    LOG4J2_PROPERTIES,
    Quorum,
    cluster_id,
    formatted_cluster_id,
    log_tail,
    render_server_properties,
)
from pipeline.adapters.kafka.broker.readiness import wait_ready
from pipeline.errors import UserError

log = structlog.get_logger()

MAIN_CLASS = "kafka.Kafka"


def free_ports(count: int) -> list[int]:
    """Ports the OS considers free right now (held together so they differ)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass(frozen=True)
class KraftConfig:
    java: str
    libs: Path
    root: Path
    """Holds server.properties, log4j2.properties, broker.log and the data/ log dir."""
    broker_port: int
    controller_port: int
    max_heap: str = "512m"
    quorum: Quorum | None = None
    """Set when this node is one of several (tests of broker failures); None: a lone node."""
    cluster_id: str | None = None
    """The id storage is formatted with; every node of a quorum needs the same. None: a new one."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def server_properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.root / "broker.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def markers(self) -> tuple[str, ...]:
        return process_markers(self.root)


def process_markers(root: Path) -> tuple[str, ...]:
    """Arguments that identify the JVM of the broker living in ``root`` among all processes."""
    return MAIN_CLASS, str(root / "server.properties")


class KraftBroker:
    """One broker JVM; ``start`` after ``stop`` restarts it on the same ports and data."""

    kind = "kraft"

    def __init__(
        self, config: KraftConfig, *, start_timeout_s: float = 90.0, keep: bool = True
    ) -> None:
        """``keep=False`` ties the JVM to this process: if it dies without stopping the broker
        (a killed test run), the kernel kills the JVM too (setpriv --pdeathsig, on Linux)."""
        if not config.root.is_absolute():
            raise ValueError(f"broker root must be absolute, got {config.root}")
        self.config = config
        self._start_timeout_s = start_timeout_s
        self._keep = keep
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Write the config, format storage on first use, launch the JVM and wait until ready."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Write the config, format storage on first use and launch the JVM without waiting:
        a node of a quorum answers only once a majority of its voters runs."""
        if self._process is not None:
            raise UserError(f"the broker at {self.bootstrap} is already started")
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cfg.server_properties.write_text(
            render_server_properties(cfg.broker_port, cfg.controller_port, cfg.data_dir, cfg.quorum)
        )
        (cfg.root / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        if not self._meta.exists():
            self._format()
        self._process = self._launch()
        log.info("kafka_broker.starting", bootstrap=self.bootstrap, pid=self._process.pid)

    def wait_ready(self) -> None:
        """Until the launched JVM answers as our cluster; UserError (and stopped) if it cannot."""
        cfg = self.config
        assert self._process is not None, "launch() first"
        outcome = wait_ready(
            self.bootstrap,
            formatted_cluster_id(self._meta),
            timeout_s=self._start_timeout_s,
            alive=self._alive,
        )
        if outcome != "ready":
            self.stop()
            what = (
                "exited" if outcome == "exited" else f"did not answer in {self._start_timeout_s}s"
            )
            raise UserError(
                f"the Kafka broker at {self.bootstrap} {what}; end of {cfg.log_file}:\n"
                + log_tail(cfg.log_file)
            )
        log.info("kafka_broker.ready", bootstrap=self.bootstrap, pid=self._process.pid)

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; reaps the child. Idempotent."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(grace_s)
        except subprocess.TimeoutExpired:
            log.warning("kafka_broker.kill", pid=self._process.pid, grace_s=grace_s)
            self._process.kill()
            self._process.wait()
        log.info("kafka_broker.stopped", bootstrap=self.bootstrap, pid=self._process.pid)
        self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crashed machine would stop it: no controlled shutdown, no flush."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        log.info("kafka_broker.killed", bootstrap=self.bootstrap, pid=self._process.pid)
        self._process = None

    @property
    def _meta(self) -> Path:
        return self.config.data_dir / "meta.properties"

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _classpath(self) -> list[str]:
        return ["-cp", str(self.config.libs / "*")]

    def _format(self) -> None:
        cfg = self.config
        command = [
            cfg.java, *self._classpath(), "kafka.tools.StorageTool", "format",
            "-t", cfg.cluster_id or cluster_id(), "-c", str(cfg.server_properties),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise UserError(f"formatting Kafka storage in {cfg.data_dir} failed:\n{output}")

    def _launch(self) -> subprocess.Popen[bytes]:
        cfg = self.config
        command = [
            cfg.java, "-Xms256m", f"-Xmx{cfg.max_heap}", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={cfg.root / 'log4j2.properties'}",
            *self._classpath(), MAIN_CLASS, str(cfg.server_properties),
        ]  # fmt: skip
        setpriv = None if self._keep else shutil.which("setpriv")
        if setpriv is not None:
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        with cfg.log_file.open("ab") as log_out:
            # A session of its own: the broker outlives `pipeline kafka up` and ignores its Ctrl-C.
            return subprocess.Popen(
                command,
                cwd=cfg.root,
                stdin=subprocess.DEVNULL,
                stdout=log_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
