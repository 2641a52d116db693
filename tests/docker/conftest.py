"""Docker fixtures: the engine, the local base image, and the images the project builds on it.

`.ci/install-docker.sh` (a prerequisite of `make test`) starts the engine and imports the base
image; no registry is reachable, so nothing is ever pulled. With CI=true a missing engine fails
the run; elsewhere the Docker tests are skipped with the command that prepares them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker import DockerClient
from docker.errors import DockerException, ImageNotFound
from testcontainers.core.config import testcontainers_config

from pipeline.adapters.kafka.broker.docker import broker_image
from pipeline.adapters.kafka.broker.image import build_image
from pipeline.config import PROJECT_ROOT
from tests.support.ci import unavailable
from tests.support.cli import run_kafka_cli

BASE_IMAGE = os.environ.get("PIPELINE_BASE_IMAGE", "pipeline-base:bookworm-1")
PIPELINE_IMAGE = "pipeline:docker-test"
PREPARE = "bash .ci/install-docker.sh"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")

# Ryuk, testcontainers' reaper, is an image from a registry; the fixtures remove what they start
# (a killed run leaves its containers: `docker ps --filter label=dev.pipeline.kafka-broker`).
testcontainers_config.ryuk_disabled = True


@pytest.fixture(scope="session")
def docker_client() -> Iterator[DockerClient]:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        unavailable(f"no Docker engine answers ({exc})", PREPARE)
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: DockerClient) -> str:
    try:
        docker_client.images.get(BASE_IMAGE)
    except ImageNotFound:
        unavailable(f"the Docker engine has no base image {BASE_IMAGE}", PREPARE)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def kafka_image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The broker image, built by `pipeline kafka image` under the name `pipeline kafka up`
    looks for (Maven resolves the jars first if they are not cached)."""
    built = run_kafka_cli(
        dict(os.environ), tmp_path_factory.mktemp("image"), "image", "--base", base_image
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return broker_image(os.environ)


@pytest.fixture(scope="session")
def pipeline_image(base_image: str) -> str:
    """deploy/Dockerfile built from the repository (layers cached by the engine)."""
    build_args = {"BASE_IMAGE": base_image, "EXTRA_CA_CERTS": _local_ca_certs()}
    build_image(PROJECT_ROOT, PIPELINE_IMAGE, dockerfile="deploy/Dockerfile", build_args=build_args)
    return PIPELINE_IMAGE


def _local_ca_certs() -> str:
    """CAs this machine added to Debian's (a TLS-intercepting proxy's, say): pip in the build
    must trust them too to reach PyPI."""
    return "".join(path.read_text() for path in sorted(LOCAL_CA_DIR.glob("*.crt")))
