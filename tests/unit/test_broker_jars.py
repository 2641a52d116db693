"""Kafka version from the pom, and Maven downloads that never leave a half-filled cache."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from pipeline.adapters.kafka.broker.jars import (
    cached_libs,
    download_libs,
    find_java,
    kafka_version,
)
from pipeline.adapters.kafka.broker.paths import BROKER_POM, cache_dir
from pipeline.errors import UserError


def fake_mvn(tmp_path: Path, body: str) -> str:
    """A stand-in for mvn: a shell script that sees the same arguments."""
    script = tmp_path / "mvn"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


COPY_ONE_JAR = """
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
done
touch "$out/kafka_2.13.jar"
"""


def test_version_comes_from_the_pom_property(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0">'
        "<properties><kafka.version> 9.9.9 </kafka.version></properties></project>"
    )

    assert kafka_version(pom) == "9.9.9"
    assert re.fullmatch(r"\d+\.\d+\.\d+", kafka_version(BROKER_POM))


def test_pom_without_version_is_a_user_error(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><properties/></project>')

    with pytest.raises(UserError, match=r"kafka\.version"):
        kafka_version(pom)


def test_cache_dir_order(tmp_path: Path) -> None:
    assert cache_dir({"PIPELINE_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/pipeline")
    assert cache_dir({}) == Path.home() / ".cache" / "pipeline"
    assert cached_libs(Path("/c"), "9.9") == Path("/c/kafka-9.9/libs")


def test_download_lands_complete_in_the_target(tmp_path: Path) -> None:
    target = cached_libs(tmp_path / "cache", "4.3.1")

    download_libs(fake_mvn(tmp_path, COPY_ONE_JAR), BROKER_POM, target)

    assert [p.name for p in target.iterdir()] == ["kafka_2.13.jar"]
    assert [p.name for p in target.parent.iterdir()] == ["libs"]


def test_failed_download_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    target = cached_libs(tmp_path / "cache", "4.3.1")
    mvn = fake_mvn(tmp_path, COPY_ONE_JAR + "echo 'Could not resolve kafka_2.13' >&2\nexit 1\n")

    with pytest.raises(UserError, match=r"Maven could not fetch the Kafka jars.*\n.*Could not"):
        download_libs(mvn, BROKER_POM, target)

    assert list(target.parent.iterdir()) == []


def test_java_home_wins_then_path(tmp_path: Path) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.touch()

    assert find_java({"JAVA_HOME": str(tmp_path)}, lambda _: "/usr/bin/java") == str(java)
    assert find_java({"JAVA_HOME": "/nowhere"}, lambda _: "/usr/bin/java") == "/usr/bin/java"
    assert find_java({}, lambda _: None) is None
