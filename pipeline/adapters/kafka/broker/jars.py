"""The Apache Kafka jars and the java that runs them: KAFKA_HOME, the cache, or Maven Central."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from pipeline.errors import UserError

log = structlog.get_logger()

_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}

Which = Callable[[str], str | None]


def kafka_version(pom: Path) -> str:
    """The ``kafka.version`` property of the broker pom: it keys the jar cache."""
    node = ET.parse(pom).find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise UserError(f"{pom} does not define the kafka.version property")
    return (node.text or "").strip()


def cached_libs(cache: Path, version: str) -> Path:
    return cache / f"kafka-{version}" / "libs"


def find_java(env: Mapping[str, str], which: Which) -> str | None:
    """``$JAVA_HOME/bin/java`` when it exists, else ``java`` on PATH."""
    if java_home := env.get("JAVA_HOME"):
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    return which("java")


def kafka_home_libs(env: Mapping[str, str]) -> Path | None:
    """``$KAFKA_HOME/libs``; a KAFKA_HOME without jars is a mistake worth saying out loud."""
    home = env.get("KAFKA_HOME")
    if not home:
        return None
    libs = Path(home).expanduser() / "libs"
    if not any(libs.glob("kafka_*.jar")):
        raise UserError(
            f"KAFKA_HOME={home} has no libs/kafka_*.jar; "
            "point it at an unpacked Apache Kafka distribution or unset it."
        )
    return libs


def download_libs(mvn: str, pom: Path, target: Path) -> Path:
    """Copy the broker's runtime jars into ``target`` with Maven.

    Maven writes into a temporary sibling that is renamed at the end, so an interrupted download
    never looks like a complete one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=target.parent))
    command = [
        mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    log.info("kafka_broker.jars_downloading", target=str(target))
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise UserError(f"Maven could not fetch the Kafka jars ({' '.join(command)}):\n{tail}")
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # another process finished first; anything else is real
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("kafka_broker.jars_downloaded", target=str(target))
    return target
