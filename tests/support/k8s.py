"""The real tools behind the manifest tests: kustomize renders the overlays, and KEDA's own CRDs
(from its Go module, fetched through the Go module proxy and cached by Go) give the schemas of
its custom resources. `.ci/install-k8s-tools.sh` provides both where they are missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.adapters.kafka.broker.paths import cache_dir
from tests.support.ci import unavailable

Manifest = dict[str, Any]

PREPARE = "bash .ci/install-k8s-tools.sh"
KEDA_MODULE = "github.com/kedacore/keda/v2"
KEDA_VERSIONS = ("v2.12.1", "v2.16.1")
"""The oldest KEDA deploy/README.md supports, and a newer one: a field must suit both."""


@cache
def kustomize_command() -> tuple[str, ...]:
    """``kustomize build`` (on PATH or where the install script puts it), else kubectl's."""
    installed = cache_dir({}) / "bin" / "kustomize"
    for binary in (shutil.which("kustomize"), str(installed) if installed.is_file() else None):
        if binary:
            return (binary, "build")
    if kubectl := shutil.which("kubectl"):
        return (kubectl, "kustomize")
    unavailable("neither kustomize nor kubectl is installed", PREPARE)


def kustomize_build(directory: Path) -> list[Manifest]:
    """Every object of the kustomization in ``directory``, as kustomize renders it."""
    result = subprocess.run(
        [*kustomize_command(), str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kustomize failed on {directory}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@cache
def keda_crds(version: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind) -> openAPIV3Schema`` of every CRD in KEDA's module at ``version``."""
    module = keda_module_dir(version)
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((module / "config" / "crd" / "bases").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for served in spec["versions"]:
            api_version = f"{spec['group']}/{served['name']}"
            schemas[(api_version, spec["names"]["kind"])] = served["schema"]["openAPIV3Schema"]
    return schemas


def keda_module_dir(version: str) -> Path:
    go = shutil.which("go")
    if go is None:
        unavailable("Go is not installed (KEDA's CRDs come from its Go module)", PREPARE)
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{KEDA_MODULE}@{version}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        unavailable(f"could not fetch {KEDA_MODULE}@{version}: {info.get('Error')}", PREPARE)
    return Path(info["Dir"])
