"""deploy/k8s: every overlay renders, passes Kubernetes schema validation, and fits vecq."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.kustomize import containers, render
from vecq.api.cli import build_parser
from vecq.api.ingest.etl_config import load_config
from vecq.shared import keys
from vecq.shared.config.settings import Settings

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir())
# Kubernetes versions the manifests must be valid for: the oldest supported here and newest.
VERSIONS = ["1.30.0", "1.37.0"]
CORE_APIS = ("v1", "apps/v1", "policy/v1", "networking.k8s.io/v1")


def _secret_keys() -> set[str]:
    lines = (K8S / "secrets.example.env").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """One overlay, rendered."""
    return render(K8S / "overlays" / request.param)


def test_there_is_a_base_and_overlays() -> None:
    """deploy/k8s has base/ and at least two overlays."""
    assert (K8S / "base" / "kustomization.yaml").exists()
    assert len(OVERLAYS) >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    """The test renderer gives exactly what `kubectl kustomize` gives (where kubectl exists)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the renderer is checked where it is")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs = sorted(json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(out.stdout) if d)
    ours = sorted(json.dumps(d, sort_keys=True) for d in render(K8S / "overlays" / overlay))
    assert ours == theirs


@pytest.mark.parametrize("version", VERSIONS)
def test_core_resources_pass_schema_validation(
    rendered: list[dict[str, Any]], version: str
) -> None:
    """Every core resource validates strictly (no unknown fields) against Kubernetes' schema."""
    core = [d for d in rendered if d["apiVersion"] in CORE_APIS]
    assert {d["kind"] for d in core} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
    }
    for doc in core:
        kubernetes_validate.validate(doc, version, strict=True)


def test_every_container_runs_a_real_vecq_command(rendered: list[dict[str, Any]]) -> None:
    """Each container's args parse with vecq's own command-line parser."""
    parser = build_parser()
    commands = set()
    for deployment in _by_kind(rendered, "Deployment").values():
        for c in containers(deployment):
            args = parser.parse_args(c["args"])
            commands.add(args.command)
            for probe in ("livenessProbe", "readinessProbe"):
                command = c.get(probe, {}).get("exec", {}).get("command")
                if command:
                    assert command[0] == "vecq"
                    parser.parse_args(command[1:])
    assert commands == {"worker", "serve", "schedule"}


def test_pods_are_locked_down_and_sized(rendered: list[dict[str, Any]]) -> None:
    """Non-root, read-only root, no privilege escalation, no capabilities, requests and limits."""
    for name, deployment in _by_kind(rendered, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name  # the image's user
        for c in containers(deployment):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            for kind in ("requests", "limits"):
                assert set(c["resources"][kind]) == {"cpu", "memory"}, (name, kind)
            assert "livenessProbe" in c, name
            assert ":" in c["image"] and c["image"] != "vecq", "the overlay sets the image"
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                assert port is None or port in ports, (name, probe, port)


def test_workers_finish_their_batch_and_beat_runs_once(rendered: list[dict[str, Any]]) -> None:
    """Worker grace exceeds the task time limit; one beat, replaced not rolled."""
    deployments = _by_kind(rendered, "Deployment")
    worker = deployments["vecq-worker"]["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] > Settings().task_time_limit
    (container,) = worker["containers"]
    metrics_port = container["args"][container["args"].index("--metrics-port") + 1]
    assert container["ports"] == [{"name": "metrics", "containerPort": int(metrics_port)}]
    beat = deployments["vecq-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}


def test_selectors_match_their_pods(rendered: list[dict[str, Any]]) -> None:
    """Each PodDisruptionBudget and Service selects the pods of one Deployment."""
    pods = {
        n: d["spec"]["template"]["metadata"]["labels"]
        for n, d in _by_kind(rendered, "Deployment").items()
    }
    budgets = _by_kind(rendered, "PodDisruptionBudget")
    assert set(budgets) == {"vecq-worker", "vecq-api"}
    for name, pdb in budgets.items():
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pods[name].items()
    api = _by_kind(rendered, "Service")["vecq-api"]["spec"]
    assert api["selector"].items() <= pods["vecq-api"].items()
    ports = {
        p["name"]
        for c in containers(_by_kind(rendered, "Deployment")["vecq-api"])
        for p in c["ports"]
    }
    assert {p["targetPort"] for p in api["ports"]} <= ports


def test_keda_scales_workers_on_vecqs_queues(rendered: list[dict[str, Any]]) -> None:
    """The ScaledObject targets the worker, watches both queues and authenticates from a Secret."""
    (scaled,) = _by_kind(rendered, "ScaledObject").values()
    spec = scaled["spec"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert spec["scaleTargetRef"]["name"] in _by_kind(rendered, "Deployment")
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    config = _by_kind(rendered, "ConfigMap")["vecq-config"]["data"]
    auths = _by_kind(rendered, "TriggerAuthentication")
    lists = set()
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "redis"
        assert meta["addressFromEnv"] in config
        assert int(meta["listLength"]) > 0 and meta["databaseIndex"].isdigit()
        assert trigger["authenticationRef"]["name"] in auths
        lists.add(meta["listName"])
    assert lists == {keys.QUEUE_BULK, keys.QUEUE_LIVE}
    for auth in auths.values():
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["name"] == "vecq-secrets" and ref["key"] in _secret_keys()


def test_config_and_secrets_cover_what_vecq_reads(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    """ConfigMap keys are vecq settings; the ETL schedule loads with the Secret's keys."""
    fields = {f"VECQ_{name.upper()}" for name in Settings.__dataclass_fields__}
    config = _by_kind(rendered, "ConfigMap")["vecq-config"]["data"]
    assert set(config) - {"VECQ_REDIS_ADDRESS"} <= fields
    Settings.from_env({**config, "VECQ_REDIS_URL": "redis://r:6379/0"})
    assert {"VECQ_REDIS_URL", "VECQ_QDRANT_API_KEY"} <= _secret_keys()
    etl = _by_kind(rendered, "ConfigMap")["vecq-etl"]["data"]["etl.toml"]
    path = tmp_path / "etl.toml"
    path.write_text(etl)
    env = dict.fromkeys(_secret_keys(), "ab" * 32)
    assert [s.name for s in load_config(path, env=env)] == ["products"]


def test_the_image_tag_is_the_packages_version(rendered: list[dict[str, Any]]) -> None:
    """Every overlay deploys the image of the version pyproject.toml builds."""
    import tomllib

    version = tomllib.loads((K8S.parents[1] / "pyproject.toml").read_text())["project"]["version"]
    images = {c["image"] for doc in rendered for c in containers(doc)}
    assert images and all(image.endswith(f":{version}") for image in images), images


def test_drains_proceed_and_graces_cover_the_longest_wait(rendered: list[dict[str, Any]]) -> None:
    """No disruption budget blocks a drain (maxUnavailable, never minAvailable), the API pod's
    grace covers a request waiting MAX_WAIT_SECONDS, and beat's probe needs no Redis."""
    from vecq.api.http.deps import MAX_WAIT_SECONDS

    for budget in _by_kind(rendered, "PodDisruptionBudget").values():
        assert "minAvailable" not in budget["spec"] and budget["spec"]["maxUnavailable"] >= 1
    api = _by_kind(rendered, "Deployment")["vecq-api"]["spec"]["template"]["spec"]
    assert api["terminationGracePeriodSeconds"] >= MAX_WAIT_SECONDS + 30
    beat = _by_kind(rendered, "Deployment")["vecq-beat"]["spec"]["template"]["spec"]
    assert "--alive" in beat["containers"][0]["livenessProbe"]["exec"]["command"]


def test_network_policies_open_only_what_each_pod_serves(rendered: list[dict[str, Any]]) -> None:
    """The API's 8000, the workers' 9100, nothing for beat; every vecq pod is selected."""
    policies = _by_kind(rendered, "NetworkPolicy")
    ports = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]: sorted(
            port["port"] for rule in p["spec"]["ingress"] for port in rule.get("ports", [])
        )
        for p in policies.values()
    }
    assert ports == {"vecq-api": [8000], "vecq-worker": [9100], "vecq-beat": []}
