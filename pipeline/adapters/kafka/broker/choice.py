"""Which broker to use, in DESIGN.md's order: a configured cluster, Docker, then local jars.

The world is passed in (environment, PATH lookup, Docker probe), so the order is tested directly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.adapters.kafka.broker.docker import docker_broker_available
from pipeline.adapters.kafka.broker.existing import UseExisting, configured_cluster
from pipeline.adapters.kafka.broker.jars import (
    Which,
    cached_libs,
    find_java,
    kafka_home_libs,
    kafka_version,
)
from pipeline.adapters.kafka.broker.paths import BROKER_POM, cache_dir
from pipeline.errors import UserError

NO_BROKER = (
    "No Kafka broker available: install Java 17+ and Maven (or set KAFKA_HOME to an unpacked "
    "Apache Kafka distribution), or start Docker and build the broker image with "
    "`pipeline kafka image`, or set KAFKA_BOOTSTRAP_SERVERS to an existing "
    "cluster"
)


@dataclass(frozen=True)
class Probes:
    """What the selection looks at; tests pass their own."""

    env: Mapping[str, str]
    which: Which = shutil.which
    docker_reachable: Callable[[], bool] = docker_broker_available
    """A Docker engine answers and has the broker image (`pipeline kafka image`)."""
    pom: Path = BROKER_POM


@dataclass(frozen=True)
class UseDocker:
    pass


@dataclass(frozen=True)
class MavenDownload:
    mvn: str
    pom: Path


@dataclass(frozen=True)
class UseKraft:
    java: str
    libs: Path
    download: MavenDownload | None
    """Set when ``libs`` does not exist yet and Maven is to fill it."""


Choice = UseExisting | UseDocker | UseKraft


def libs_dir(probes: Probes) -> Path:
    """Where the broker jars are or will be: ``$KAFKA_HOME/libs``, else the versioned cache."""
    return kafka_home_libs(probes.env) or cached_libs(
        cache_dir(probes.env), kafka_version(probes.pom)
    )


def choose(probes: Probes, configured_bootstrap: str | None = None) -> Choice:
    """The first usable way to get a broker, or a UserError saying what to install."""
    if existing := configured_cluster(configured_bootstrap, probes.env):
        return existing
    if probes.docker_reachable():
        return UseDocker()
    java = find_java(probes.env, probes.which)
    libs = libs_dir(probes)
    mvn = None if libs.is_dir() else probes.which("mvn")
    missing = [name for name, found in (("java", java), ("mvn", libs.is_dir() or mvn)) if not found]
    if java is None or missing:
        found_none = ", no ".join(["Docker engine with the broker image", *missing])
        raise UserError(f"{NO_BROKER} (found no {found_none}).")
    return UseKraft(java, libs, MavenDownload(mvn, probes.pom) if mvn else None)
