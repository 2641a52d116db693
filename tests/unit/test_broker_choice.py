"""The order of preference: configured cluster, Docker, KAFKA_HOME, cached jars, Maven."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.adapters.kafka.broker.choice import (
    NO_BROKER,
    MavenDownload,
    Probes,
    UseDocker,
    UseKraft,
    choose,
)
from pipeline.adapters.kafka.broker.existing import UseExisting
from pipeline.adapters.kafka.broker.jars import kafka_version
from pipeline.adapters.kafka.broker.paths import BROKER_POM
from pipeline.errors import UserError

JAVA = "/opt/jdk/bin/java"
MVN = "/opt/maven/bin/mvn"
VERSION = kafka_version(BROKER_POM)


def on_path(*tools: str) -> Callable[[str], str | None]:
    paths = {"java": JAVA, "mvn": MVN}
    return lambda name: paths[name] if name in tools else None


def no_docker() -> bool:
    return False


def docker_must_not_be_asked() -> bool:
    raise AssertionError("Docker was probed although a cluster is configured")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PIPELINE_CACHE_DIR": str(tmp_path / "cache")}


def kafka_home(tmp_path: Path) -> Path:
    home = tmp_path / f"kafka_2.13-{VERSION}"
    (home / "libs").mkdir(parents=True)
    (home / "libs" / f"kafka_2.13-{VERSION}.jar").touch()
    return home


def test_configured_bootstrap_wins_over_everything(env: dict[str, str]) -> None:
    env["KAFKA_BOOTSTRAP_SERVERS"] = "env:9092"
    probes = Probes(env, which=on_path("java", "mvn"), docker_reachable=docker_must_not_be_asked)

    assert choose(probes, "settings:9092") == UseExisting(
        "settings:9092", "kafka.bootstrap_servers"
    )


def test_kafka_bootstrap_servers_wins_over_docker(env: dict[str, str]) -> None:
    env["KAFKA_BOOTSTRAP_SERVERS"] = " a:9092,b:9092 "
    probes = Probes(env, docker_reachable=docker_must_not_be_asked)

    assert choose(probes) == UseExisting("a:9092,b:9092", "KAFKA_BOOTSTRAP_SERVERS")


def test_blank_bootstrap_values_are_not_a_cluster(env: dict[str, str]) -> None:
    env["KAFKA_BOOTSTRAP_SERVERS"] = "  "

    assert choose(Probes(env, docker_reachable=lambda: True), " ") == UseDocker()


def test_reachable_docker_wins_over_local_jars(env: dict[str, str]) -> None:
    probes = Probes(env, which=on_path("java", "mvn"), docker_reachable=lambda: True)

    assert choose(probes) == UseDocker()


def test_kafka_home_jars_win_over_cache_and_maven(env: dict[str, str], tmp_path: Path) -> None:
    env["KAFKA_HOME"] = str(kafka_home(tmp_path))
    probes = Probes(env, which=on_path("java", "mvn"), docker_reachable=no_docker)

    assert choose(probes) == UseKraft(JAVA, Path(env["KAFKA_HOME"]) / "libs", download=None)


def test_kafka_home_without_jars_is_a_user_error(env: dict[str, str], tmp_path: Path) -> None:
    env["KAFKA_HOME"] = str(tmp_path)
    probes = Probes(env, which=on_path("java", "mvn"), docker_reachable=no_docker)

    with pytest.raises(UserError, match=r"KAFKA_HOME=.* has no libs/kafka_"):
        choose(probes)


def test_cached_jars_need_no_maven(env: dict[str, str], tmp_path: Path) -> None:
    libs = tmp_path / "cache" / f"kafka-{VERSION}" / "libs"
    libs.mkdir(parents=True)
    probes = Probes(env, which=on_path("java"), docker_reachable=no_docker)

    assert choose(probes) == UseKraft(JAVA, libs, download=None)


def test_without_cached_jars_maven_downloads_them(env: dict[str, str], tmp_path: Path) -> None:
    probes = Probes(env, which=on_path("java", "mvn"), docker_reachable=no_docker)

    assert choose(probes) == UseKraft(
        JAVA, tmp_path / "cache" / f"kafka-{VERSION}" / "libs", MavenDownload(MVN, BROKER_POM)
    )


def test_java_home_is_preferred_to_path(env: dict[str, str], tmp_path: Path) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.touch()
    env["JAVA_HOME"] = str(tmp_path / "jdk")
    probes = Probes(env, which=on_path("java", "mvn"), docker_reachable=no_docker)

    choice = choose(probes)

    assert isinstance(choice, UseKraft)
    assert choice.java == str(java)


@pytest.mark.parametrize(
    ("tools", "missing"),
    [((), "no java, no mvn"), (("mvn",), "no java)"), (("java",), "no mvn)")],
)
def test_nothing_usable_says_what_to_install(
    env: dict[str, str], tools: tuple[str, ...], missing: str
) -> None:
    probes = Probes(env, which=on_path(*tools), docker_reachable=no_docker)

    with pytest.raises(UserError) as raised:
        choose(probes)

    message = str(raised.value)
    assert message.startswith(NO_BROKER)
    assert "install Java 17+ and Maven" in message
    assert "KAFKA_HOME" in message
    assert "start Docker" in message
    assert "KAFKA_BOOTSTRAP_SERVERS" in message
    assert f"found no Docker engine with the broker image, {missing}" in message
