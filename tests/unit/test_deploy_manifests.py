"""deploy/: the Kubernetes manifests and the Dockerfile, checked offline.

kustomize renders each overlay (tests/support/k8s.py); these tests check what the objects mean
together (probes, grace periods, scaling, security); test_manifest_schemas.py checks each object
against Kubernetes' and KEDA's schemas.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.adapters.kafka.topics.spec import load_topics
from pipeline.config import RuntimeSettings, Settings, load_settings
from pipeline.runtime.clients import consumer_config
from pipeline.stages.normalize.stage import INPUT_TOPIC as NORMALIZE_INPUT
from pipeline.stages.store.stage import INPUT_TOPIC as STORE_INPUT
from pipeline.stages.symbolicate.stage import INPUT_TOPIC as SYMBOLICATE_INPUT
from tests.support.k8s import Manifest, kustomize_build

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = ("base", "overlays/dev", "overlays/production")
STAGES = {
    "normalize": NORMALIZE_INPUT,
    "symbolicate": SYMBOLICATE_INPUT,
    "store": STORE_INPUT,
}
NAMESPACE = "pipeline"
PLACEHOLDER = "REPLACE_ME"
CLUSTER_SCOPED = {"Namespace"}
PROBES = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
EDGE_PROBES = {
    "startupProbe": "/health/live",
    "livenessProbe": "/health/live",
    "readinessProbe": "/health/ready",
}
EDGE = "pipeline-edge"
KEDA_SASL_MODES = {
    "PLAIN": "plaintext",
    "SCRAM-SHA-256": "scram_sha256",
    "SCRAM-SHA-512": "scram_sha512",
}


# --- rendering ---------------------------------------------------------------------------------


def load_manifests(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def split_image(reference: str) -> tuple[str, str]:
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        return reference, ""
    return name, tag


# --- reading rendered manifests ----------------------------------------------------------------


def of_kind(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def workloads(docs: list[Manifest]) -> Iterator[Manifest]:
    return (doc for doc in docs if doc["kind"] in ("Deployment", "Job"))


def pod_spec(doc: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def containers(doc: Manifest) -> list[dict[str, Any]]:
    if doc["kind"] not in ("Deployment", "Job"):
        return []
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(doc: Manifest) -> dict[str, Any]:
    (container,) = pod_spec(doc)["containers"]
    assert isinstance(container, dict)
    return container


def secret_template() -> Manifest:
    (secret,) = load_manifests(K8S / "base" / "secret.template.yaml")
    return secret


def container_env(docs: list[Manifest], container: dict[str, Any]) -> dict[str, str]:
    """The variables a container starts with, resolved against the rendered ConfigMaps and the
    Secret template; later `env` entries win over `envFrom`, as in Kubernetes."""
    config_maps = of_kind(docs, "ConfigMap")
    secrets = {"pipeline-credentials": secret_template()}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"unexpected envFrom source {source}"
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        ref = var["valueFrom"]
        if "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            env[var["name"]] = secrets[key["name"]]["stringData"][key["key"]]
        else:
            key = ref["configMapKeyRef"]
            env[var["name"]] = config_maps[key["name"]]["data"][key["key"]]
    return env


def mounted_file(doc: Manifest, docs: list[Manifest], path: str) -> str:
    """The content a ConfigMap volume puts at ``path`` inside the pod."""
    volumes = {v["name"]: v for v in pod_spec(doc)["volumes"]}
    for mount in main_container(doc)["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        source = volumes[mount["name"]].get("configMap")
        if source and path.startswith(prefix):
            data: dict[str, str] = of_kind(docs, "ConfigMap")[source["name"]]["data"]
            return data[path.removeprefix(prefix)]
    raise AssertionError(f"{doc['metadata']['name']}: nothing mounts {path}")


def quantity(value: str | int) -> float:
    """A Kubernetes resource quantity (cpu in cores, memory in bytes)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    text = str(value)
    for suffix, factor in units.items():
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * factor
    return float(text)


def under(path: Path, mount_path: str) -> bool:
    return path == Path(mount_path) or Path(mount_path) in path.parents


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def docs(request: pytest.FixtureRequest) -> list[Manifest]:
    return kustomize_build(K8S / request.param)


SettingsOf = Callable[[Manifest], Settings]


@pytest.fixture
def settings_of(
    docs: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SettingsOf:
    """Settings as a workload's process loads them: its env and its mounted pipeline.yaml (the
    image's own PIPELINE_KAFKA__* paths left out, so the repository's topics.yaml is read)."""

    def load(doc: Manifest) -> Settings:
        env = container_env(docs, main_container(doc))
        config = tmp_path / f"{doc['metadata']['name']}.yaml"
        config.write_text(mounted_file(doc, docs, env["PIPELINE_CONFIG"]))
        for name in [n for n in os.environ if n.startswith("PIPELINE_")]:
            monkeypatch.delenv(name)
        for name, value in {**env, "PIPELINE_CONFIG": str(config)}.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return load


# --- what DESIGN.md "Deploy (Kubernetes)" asks for ----------------------------------------------


def test_every_stage_has_a_deployment_a_pdb_a_scaledobject_and_a_drain(
    docs: list[Manifest],
) -> None:
    deployments = of_kind(docs, "Deployment")
    for stage in STAGES:
        live = deployments[f"pipeline-{stage}"]
        assert main_container(live)["args"] == ["run", stage]
        assert "replicas" not in live["spec"], "KEDA owns the replica count"
        assert f"pipeline-{stage}" in of_kind(docs, "PodDisruptionBudget")
        assert f"pipeline-{stage}" in of_kind(docs, "ScaledObject")
        drain = deployments[f"pipeline-{stage}-backlog"]
        assert main_container(drain)["args"] == ["run", stage, "--backlog"]
        assert drain["spec"]["replicas"] == 1
        assert drain["spec"]["strategy"]["type"] == "Recreate"
    job = of_kind(docs, "Job")["pipeline-topics-apply"]
    assert main_container(job)["args"] == ["topics", "apply"]


def test_probes_and_scrape_annotations_use_the_health_port(
    docs: list[Manifest], settings_of: SettingsOf
) -> None:
    for name, deployment in of_kind(docs, "Deployment").items():
        settings = settings_of(deployment)
        # The edge serves its health and metrics on its own HTTP port, the others on the runtime's.
        port = settings.edge.port if name == EDGE else settings.runtime.http_port
        container = main_container(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe, path in (EDGE_PROBES if name == EDGE else PROBES).items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            assert ports.get(get["port"], get["port"]) == port, f"{name} {probe} port"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_termination_grace_outlasts_the_shutdown_grace(
    docs: list[Manifest], settings_of: SettingsOf
) -> None:
    """The runtime spends up to shutdown_grace_s on in-flight work, then up to half of it more
    flushing the producer, then commits and leaves the group: the kubelet must wait longer."""
    for name, deployment in of_kind(docs, "Deployment").items():
        grace = settings_of(deployment).runtime.shutdown_grace_s
        seconds = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert seconds > grace * 1.5, f"{name}: {seconds}s for a {grace}s shutdown grace"


def test_scaled_objects_follow_each_stage_group_and_partitions(
    docs: list[Manifest], settings_of: SettingsOf
) -> None:
    deployments = of_kind(docs, "Deployment")
    auths = of_kind(docs, "TriggerAuthentication")
    for stage, input_topic in STAGES.items():
        scaled = of_kind(docs, "ScaledObject")[f"pipeline-{stage}"]["spec"]
        target = deployments[scaled["scaleTargetRef"]["name"]]
        assert target["metadata"]["name"] == f"pipeline-{stage}"
        assert scaled["scaleTargetRef"]["kind"] == "Deployment"
        assert scaled["scaleTargetRef"]["envSourceContainerName"] == main_container(target)["name"]
        settings = settings_of(target)
        kafka = settings.kafka
        topics = load_topics(kafka.topics_file, drain_horizon_s=settings.backlog.drain_horizon_s)
        partitions = {spec.name: spec.partitions for spec in topics}
        assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
        assert scaled["maxReplicaCount"] <= partitions[input_topic]
        (trigger,) = scaled["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == kafka.topic(f"pipeline-{stage}")
        assert meta["topic"] == kafka.topic(input_topic)
        assert int(meta["lagThreshold"]) > 0
        assert meta["allowIdleConsumers"] == "false"
        reset = consumer_config({}, kafka, "group", stage)["auto.offset.reset"]
        assert meta["offsetResetPolicy"] == reset
        env = container_env(docs, main_container(target))
        assert env[meta["bootstrapServersFromEnv"]] == kafka.bootstrap_servers
        assert trigger["authenticationRef"]["name"] in auths


def test_keda_authenticates_the_way_the_stages_do(
    docs: list[Manifest], settings_of: SettingsOf
) -> None:
    secret_keys = set(secret_template()["stringData"])
    for auth in of_kind(docs, "TriggerAuthentication").values():
        assert {ref["key"] for ref in auth["spec"]["secretTargetRef"]} <= secret_keys
    for stage in STAGES:
        deployment = of_kind(docs, "Deployment")[f"pipeline-{stage}"]
        scaled = of_kind(docs, "ScaledObject")[f"pipeline-{stage}"]
        (trigger,) = scaled["spec"]["triggers"]
        auth = of_kind(docs, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
        env = container_env(docs, main_container(deployment))
        params = {ref["parameter"]: env[ref["name"]] for ref in auth["spec"]["env"]}
        client = settings_of(deployment).kafka.client_config
        protocol = str(client.get("security.protocol", "PLAINTEXT")).upper()
        mechanism = client.get("sasl.mechanism")
        expected_sasl = KEDA_SASL_MODES[str(mechanism)] if protocol.startswith("SASL") else "none"
        assert params["sasl"] == expected_sasl, stage
        assert params["tls"] == ("enable" if protocol.endswith("SSL") else "disable"), stage


def test_the_settings_file_loads_in_every_workload(
    docs: list[Manifest], settings_of: SettingsOf
) -> None:
    for doc in workloads(docs):
        name = doc["metadata"]["name"]
        settings = settings_of(doc)
        assert settings.kafka.bootstrap_servers, f"{name} would look for a dev broker"
        if name.startswith("pipeline-store"):
            assert settings.store.dsn == PLACEHOLDER, f"{name}: DSN not from the Secret"


def test_writable_paths_are_volumes(docs: list[Manifest], settings_of: SettingsOf) -> None:
    for doc in workloads(docs):
        mounts = main_container(doc)["volumeMounts"]
        writable = [m["mountPath"] for m in mounts if not m.get("readOnly")]
        assert "/tmp" in writable, doc["metadata"]["name"]
        declared = {v["name"] for v in pod_spec(doc)["volumes"]}
        assert {m["name"] for m in mounts} == declared, doc["metadata"]["name"]
    for name in ("pipeline-symbolicate", "pipeline-symbolicate-backlog"):
        deployment = of_kind(docs, "Deployment")[name]
        symbolicate = settings_of(deployment).symbolicate
        mounts = main_container(deployment)["volumeMounts"]
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        cache = [m for m in mounts if under(symbolicate.cache_dir, m["mountPath"])]
        assert cache and not cache[0].get("readOnly") and "emptyDir" in volumes[cache[0]["name"]]
        assert any(under(symbolicate.artifacts_dir, m["mountPath"]) for m in mounts)
        limit = quantity(main_container(deployment)["resources"]["limits"]["memory"])
        assert symbolicate.memory_cache_bytes <= limit / 2, f"{name}: cache vs memory limit"


def test_secrets_are_placeholders_and_never_applied(docs: list[Manifest]) -> None:
    assert not of_kind(docs, "Secret"), "applying an overlay must not overwrite credentials"
    secret = secret_template()
    assert "data" not in secret, "base64 data would hide what the template holds"
    assert secret["stringData"]
    assert all(value == PLACEHOLDER for value in secret["stringData"].values())
    for doc in workloads(docs):
        for var in main_container(doc).get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret["metadata"]["name"]
                assert ref["key"] in secret["stringData"], var["name"]
                assert ref.get("optional", False) == ref["key"].startswith("kafka-sasl-")


def test_config_maps_hold_no_credentials(docs: list[Manifest]) -> None:
    userinfo = re.compile(r"://[^/@\s]+:[^/@\s]+@")
    for config_map in of_kind(docs, "ConfigMap").values():
        for key, value in config_map["data"].items():
            assert not re.search(r"password|secret|token", key, re.IGNORECASE), key
            assert not userinfo.search(str(value)), f"credentials in ConfigMap key {key}"


def test_one_pinned_image_and_common_labels(docs: list[Manifest]) -> None:
    images = {c["image"] for doc in docs for c in containers(doc)}
    assert len(images) == 1, f"one image for every workload, got {images}"
    (image,) = images
    assert split_image(image)[1] not in ("", "latest"), "pin the image tag"
    assert NAMESPACE in of_kind(docs, "Namespace")
    for doc in docs:
        name, labels = doc["metadata"]["name"], doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "pipeline", name
        assert labels.get("app.kubernetes.io/part-of") == "pipeline", name
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"] == NAMESPACE, name


def test_each_selector_picks_exactly_its_own_pods(docs: list[Manifest]) -> None:
    deployments = of_kind(docs, "Deployment")
    for name, deployment in deployments.items():
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        assert pods["app.kubernetes.io/component"] == component, name
        selecting = [
            other
            for other, d in deployments.items()
            if d["spec"]["selector"]["matchLabels"].items() <= pods.items()
        ]
        assert selecting == [name], f"{name}'s pods are selected by {selecting}"
    for stage in STAGES:
        pdb = of_kind(docs, "PodDisruptionBudget")[f"pipeline-{stage}"]["spec"]
        deployment = deployments[f"pipeline-{stage}"]
        assert pdb["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert pdb["maxUnavailable"] == 1


def test_live_stages_spread_over_nodes_and_zones(docs: list[Manifest]) -> None:
    for stage in STAGES:
        deployment = of_kind(docs, "Deployment")[f"pipeline-{stage}"]
        constraints = pod_spec(deployment)["topologySpreadConstraints"]
        keys = {c["topologyKey"] for c in constraints}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in constraints:
            selector = constraint["labelSelector"]["matchLabels"]
            assert selector == deployment["spec"]["selector"]["matchLabels"]


def test_pods_run_locked_down(docs: list[Manifest]) -> None:
    """What Pod Security "restricted" demands, plus a read-only root and no API token."""
    accounts = of_kind(docs, "ServiceAccount")
    for doc in workloads(docs):
        name = doc["metadata"]["name"]
        spec = pod_spec(doc)
        assert spec["serviceAccountName"] in accounts, name
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in containers(doc):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in security["capabilities"], name
            assert container["name"] == "pipeline", "overlay patches address it by name"


def test_resources_match_each_stage_profile(docs: list[Manifest]) -> None:
    resources = {}
    for doc in workloads(docs):
        name = doc["metadata"]["name"]
        res = main_container(doc)["resources"]
        for kind in ("cpu", "memory"):
            request, limit = quantity(res["requests"][kind]), quantity(res["limits"][kind])
            assert 0 < request <= limit, f"{name} {kind}"
        resources[name] = res
    limits = {stage: resources[f"pipeline-{stage}"]["limits"] for stage in STAGES}
    # normalize is CPU-bound, symbolicate holds caches in memory, store waits on the database.
    assert quantity(limits["normalize"]["cpu"]) == max(quantity(v["cpu"]) for v in limits.values())
    assert quantity(limits["symbolicate"]["memory"]) == max(
        quantity(v["memory"]) for v in limits.values()
    )
    assert "ephemeral-storage" in limits["symbolicate"]
    for name in ("pipeline-normalize", "pipeline-normalize-backlog"):
        container = main_container(of_kind(docs, "Deployment")[name])
        processes = int(container_env(docs, container)["PIPELINE_RUNTIME__PROCESSES"])
        assert processes <= quantity(container["resources"]["limits"]["cpu"]), name


def test_overlays_change_what_they_claim() -> None:
    base, dev, production = (kustomize_build(K8S / name) for name in KUSTOMIZATIONS)
    images = [
        main_container(of_kind(d, "Job")["pipeline-topics-apply"])["image"]
        for d in (base, dev, production)
    ]
    assert len(set(images)) == 3
    dev_env = of_kind(dev, "ConfigMap")["pipeline-env"]["data"]
    assert dev_env["PIPELINE_KAFKA__CLIENT_CONFIG__SECURITY.PROTOCOL"] == "PLAINTEXT"
    assert "PIPELINE_KAFKA__CLIENT_CONFIG__SASL.MECHANISM" not in dev_env
    assert all(s["spec"]["maxReplicaCount"] == 2 for s in of_kind(dev, "ScaledObject").values())
    assert all(
        s["spec"]["minReplicaCount"] == 2 for s in of_kind(production, "ScaledObject").values()
    )
    for name in ("pipeline-symbolicate", "pipeline-symbolicate-backlog"):
        volumes = {
            v["name"]: v for v in pod_spec(of_kind(production, "Deployment")[name])["volumes"]
        }
        assert set(volumes["artifacts"]) == {"name", "persistentVolumeClaim"}
        assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] in of_kind(
            production, "PersistentVolumeClaim"
        )


# --- the image ----------------------------------------------------------------------------------


Instruction = tuple[str, str]


def dockerfile() -> tuple[list[Instruction], list[list[Instruction]]]:
    """deploy/Dockerfile as (INSTRUCTION, arguments): those before the first FROM (global ARGs),
    and one list per build stage."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    preamble: list[Instruction] = []
    stages: list[list[Instruction]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        (stages[-1] if stages else preamble).append((instruction.upper(), args.strip()))
    return preamble, stages


def copies(stage: list[Instruction]) -> dict[str, str]:
    """Sources copied from the build context, to their destination."""
    found = {}
    for op, args in stage:
        if op == "COPY" and not args.startswith("--from"):
            *sources, destination = shlex.split(args)
            found.update(dict.fromkeys(sources, destination))
    return found


def test_dockerfile_builds_a_non_root_image_that_finds_its_files() -> None:
    preamble, stages = dockerfile()
    assert ("ARG", "BASE_IMAGE=debian:bookworm-slim") in preamble
    assert len(stages) >= 2, "multi-stage: build tools stay out of the runtime image"
    assert stages[0][0][1].startswith("${BASE_IMAGE}"), "every stage builds on the base"
    build = next(stage for stage in stages if stage[0][1].endswith(" AS build"))
    runtime = stages[-1]
    installs = [args for op, args in build if op == "RUN" and "pip install" in args]
    assert installs and all(
        re.search(r"pip install [^&]*\s\.(\s|$)", a) and " -e" not in a for a in installs
    ), "the package is installed, not linked: the image holds no source tree"
    uid = [args for op, args in runtime if op == "USER"][-1].partition(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root user (runAsNonRoot checks it)"
    env: dict[str, str] = {}
    for op, args in runtime:
        if op == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    shipped = copies(runtime)
    assert env["PIPELINE_KAFKA__SCHEMAS_DIR"] == shipped["schemas"]
    assert env["PIPELINE_KAFKA__TOPICS_FILE"] == shipped["topics.yaml"]
    assert ("ENTRYPOINT", '["pipeline"]') in runtime
    assert ("EXPOSE", str(RuntimeSettings().http_port)) in runtime


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "deny by default, so .venv, .git and local files stay out"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    for stage in dockerfile()[1]:
        assert set(copies(stage)) <= allowed, "the build context lacks a copied path"


def test_the_status_page_runs_behind_a_service(docs: list[Manifest]) -> None:
    deployment = of_kind(docs, "Deployment")["pipeline-status"]
    container = main_container(deployment)
    assert container["args"][0] == "status"
    assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"
    service = of_kind(docs, "Service")["pipeline-status"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    named = {p["name"] for p in container["ports"]}
    assert all(p["targetPort"] in named for p in service["spec"]["ports"])


def test_the_edge_is_served_scaled_and_configured(
    docs: list[Manifest], settings_of: SettingsOf
) -> None:
    deployment = of_kind(docs, "Deployment")[EDGE]
    container = main_container(deployment)
    assert container["args"] == ["run", "edge"]
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the count"
    settings = settings_of(deployment)
    assert settings.edge.host == "0.0.0.0", "the edge must listen beyond the pod's loopback"
    assert settings.edge.projects, "pipeline run edge refuses to start without projects"
    http = next(p for p in container["ports"] if p["name"] == "http")
    assert http["containerPort"] == settings.edge.port
    service = of_kind(docs, "Service")[EDGE]["spec"]
    assert service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert [p["targetPort"] for p in service["ports"]] == ["http"]
    pdb = of_kind(docs, "PodDisruptionBudget")[EDGE]["spec"]
    assert pdb["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    hpa = of_kind(docs, "HorizontalPodAutoscaler")[EDGE]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": EDGE}
    assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"
    # uvicorn finishes requests in flight (ack_timeout_s + 5), then the producer flushes
    # (ack_timeout_s), after preStop: the kubelet must wait for all of it.
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    needed = pre_stop + 2 * settings.edge.ack_timeout_s + 5
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > needed
