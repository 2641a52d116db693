"""`pipeline kafka up|status|up|down` as a user runs them, in an isolated cache directory."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.kafka.broker.jars import cached_libs, kafka_version
from pipeline.adapters.kafka.broker.paths import BROKER_POM, cache_dir
from tests.support.cli import NOT_INHERITED
from tests.support.cli import run_kafka_cli as run

pytestmark = pytest.mark.integration


def is_alive(pid: int) -> bool:
    """A zombie (exited, not yet reaped by init) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """No configured cluster, no Docker; the already-downloaded jars are linked into the cache."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    cache = tmp_path / "cache"
    env["PIPELINE_CACHE_DIR"] = str(cache)
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'no-docker.sock'}"
    downloaded = cached_libs(cache_dir(os.environ), kafka_version(BROKER_POM))
    if downloaded.is_dir():
        linked = cached_libs(cache, kafka_version(BROKER_POM))
        linked.parent.mkdir(parents=True)
        linked.symlink_to(downloaded, target_is_directory=True)
    return env


@pytest.fixture
def dev_broker_env(cli_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    yield cli_env
    run(cli_env, tmp_path, "down", "--grace", "5")


def test_up_status_up_down(dev_broker_env: dict[str, str], tmp_path: Path) -> None:
    env = dev_broker_env

    started = run(env, tmp_path, "up")
    assert started.returncode == 0, started.stderr
    state = json.loads((tmp_path / "cache" / "dev-broker.json").read_text())
    bootstrap, pid = state["bootstrap"], state["pid"]
    assert f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}" in started.stdout
    assert is_alive(pid)

    status = run(env, tmp_path, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert bootstrap in status.stdout
    assert "kraft" in status.stdout
    assert re.search(r"brokers\s+1\b", status.stdout)

    again = run(env, tmp_path, "up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}" in again.stdout

    stopped = run(env, tmp_path, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert not is_alive(pid)
    assert not (tmp_path / "cache" / "dev-broker.json").exists()

    after = run(env, tmp_path, "status")
    assert after.returncode == 1
    assert "No dev broker is running" in after.stdout


def test_up_without_java_docker_or_cluster_says_what_to_install(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {**cli_env, "PATH": str(empty_bin)}
    for name in ("JAVA_HOME", "KAFKA_HOME"):
        env.pop(name, None)

    result = run(env, tmp_path, "up")

    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "install Java 17+ and Maven" in output
    assert "KAFKA_HOME" in output
    assert "KAFKA_BOOTSTRAP_SERVERS" in output
    assert "Traceback" not in output


def test_image_without_a_docker_engine_is_one_clear_error(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = run(cli_env, tmp_path, "image")

    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "needs a Docker engine" in output
    assert "Traceback" not in output
