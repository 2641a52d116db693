"""Every object kustomize renders from deploy/k8s, checked against the real schemas offline:
Kubernetes' OpenAPI schemas (kubernetes-validate ships them) for built-in kinds, KEDA's own CRDs
for its resources. Strict: a field the API server does not know is an error, as with
`kubectl apply --validate=strict`. New manifests (any kind) are picked up without a change here.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.k8s import KEDA_VERSIONS, Manifest, keda_crds, kustomize_build

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUSTOMIZATIONS = ("base", "overlays/dev", "overlays/production")
OLDEST_KUBERNETES = "1.27"
"""deploy/README.md: Kubernetes 1.27 or later."""
KUBERNETES_VERSIONS = (OLDEST_KUBERNETES, kubernetes_validate.latest_version())


@cache
def _rendered() -> tuple[tuple[str, Manifest], ...]:
    found = [
        (f"{name}: {doc['kind']}/{doc['metadata']['name']}", doc)
        for name in KUSTOMIZATIONS
        for doc in kustomize_build(K8S / name)
    ]
    template = yaml.safe_load((K8S / "base" / "secret.template.yaml").read_text())
    return (*found, ("base/secret.template.yaml", template))


def rendered() -> list[tuple[str, Manifest]]:
    """(where, object) for every object of every kustomization, plus the Secret template;
    copies, so a test may break one."""
    return copy.deepcopy(list(_rendered()))


def is_keda(doc: Manifest) -> bool:
    return str(doc["apiVersion"]).split("/")[0].endswith("keda.sh")


def validate_builtin(doc: Manifest, version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def validate_keda(doc: Manifest, version: str) -> None:
    """``doc`` against the CRD schema of its kind in KEDA ``version``; unknown fields fail."""
    jsonschema.validate(doc, strict_crd_schema(version, doc["apiVersion"], doc["kind"]))


@cache
def strict_crd_schema(version: str, api_version: str, kind: str) -> dict[str, Any]:
    schemas = keda_crds(version)
    assert (api_version, kind) in schemas, f"KEDA {version} has no CRD for {api_version} {kind}"
    return strict_schema(schemas[(api_version, kind)])


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema with unknown fields refused wherever the API server would prune them."""
    strict = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(strict)
    return strict


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_in_objects_match_the_kubernetes_schemas(version: str) -> None:
    checked = 0
    for where, doc in rendered():
        if is_keda(doc):
            continue
        try:
            validate_builtin(doc, version)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
            pytest.fail(f"{where} is invalid for Kubernetes {version}: {e}", pytrace=False)
        checked += 1
    assert checked >= 30, f"only {checked} objects rendered: did kustomize lose resources?"


@pytest.mark.parametrize("version", KEDA_VERSIONS)
def test_keda_objects_match_kedas_crds(version: str) -> None:
    kinds = set()
    for where, doc in rendered():
        if not is_keda(doc):
            continue
        try:
            validate_keda(doc, version)
        except jsonschema.ValidationError as e:
            path = "/".join(str(p) for p in e.absolute_path)
            pytest.fail(f"{where} is invalid for KEDA {version} at {path}: {e.message}")
        kinds.add(doc["kind"])
    assert kinds == {"ScaledObject", "TriggerAuthentication"}


def scaled_object() -> Manifest:
    return next(doc for _, doc in rendered() if doc["kind"] == "ScaledObject")


def deployment() -> Manifest:
    return next(doc for _, doc in rendered() if doc["kind"] == "Deployment")


def test_the_kubernetes_check_refuses_an_unknown_field_and_a_wrong_type() -> None:
    misspelt = deployment()
    misspelt["spec"]["template"]["spec"]["terminationGracePeriod"] = 45
    wrong_type = deployment()
    wrong_type["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "45s"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate_builtin(broken, OLDEST_KUBERNETES)


def test_the_keda_check_refuses_an_unknown_field_and_a_wrong_type() -> None:
    misspelt = scaled_object()
    misspelt["spec"]["maxReplicas"] = 4
    wrong_type = scaled_object()
    wrong_type["spec"]["minReplicaCount"] = "one"
    for broken in (misspelt, wrong_type):
        with pytest.raises(jsonschema.ValidationError):
            validate_keda(broken, KEDA_VERSIONS[0])
