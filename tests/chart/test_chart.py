"""The chart renders what the issue asks for: strict documented values, secure pods, one operator.

No cluster: ``helm lint``/``helm template`` with the pinned helm, and jsonschema on values.yaml.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlendpoints.api.v1alpha1 import KINDS
from tests.chart.conftest import CHART, container_env, of_kind, one, run_helm, template, values_file

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
#: Values handed to Kubernetes as they are (typed objects; the API server validates their insides).
PASSTHROUGH = (
    "global",
    "podSecurityContext",
    "securityContext",
    "affinity",
    "tolerations",
    "operator.extraEnv",
    "admissionPolicy.namespaceSelector",
)
DIGEST = "sha256:" + "ab" * 32


#: Maps whose keys are free (typed by additionalProperties in the schema).
FREE_MAPS = (
    "resources.requests",
    "resources.limits",
    "operator.defaultResources.requests",
    "operator.defaultResources.limits",
)


def inside_passthrough(path: str) -> bool:
    """Below a passthrough value (its own key is still a documented, schema-typed value)."""
    return any(path.startswith((f"{p}.", f"{p}[")) for p in PASSTHROUGH)


def test_helm_lint_strict(helm: Path, tmp_path: Path) -> None:
    for values in (
        None,
        {"operator": {"watchNamespaces": ["team-a", "team-b"]}, "serviceMonitor": {"enabled": True}},
        {"image": {"digest": DIGEST}, "crds": {"enabled": False}, "rbac": {"create": False}},
    ):
        out = run_helm(helm, "lint", "--strict", str(CHART), *values_file(tmp_path, values))
        assert "0 chart(s) failed" in out


# -- values.schema.json (generated from values.yaml: tests/chart/test_values_docs.py) ----------------
def _schema_nodes(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for key, child in (node.get("properties") or {}).items():
        out += _schema_nodes(child, f"{path}.{key}".lstrip("."))
    if isinstance(node.get("items"), dict):
        out += _schema_nodes(node["items"], f"{path}[]")
    return out


def test_schema_is_strict_and_self_contained() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$ref" not in json.dumps(SCHEMA), "no $ref: Helm would fetch remote ones over the network"
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(VALUES)
    for path, node in _schema_nodes(SCHEMA):
        if node.get("type") != "object" or path in PASSTHROUGH or inside_passthrough(path):
            continue
        if path in FREE_MAPS:  # documented keys, and more of the same type
            assert isinstance(node.get("additionalProperties"), dict), path
        elif "properties" in node:
            assert node.get("additionalProperties") is False, f"{path or '<root>'}: not strict"
        else:  # a free-form map: its values must still be typed
            assert isinstance(node.get("additionalProperties"), dict) or path.endswith("[]"), path


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": 2}, "replicaCount"),
        ({"operator": {"watchedNamespaces": ["a"]}}, "watchedNamespaces"),
        ({"typo": True}, "typo"),
        ({"image": {"digest": "sha256:abc"}}, "digest"),
        ({"operator": {"logLevel": "LOUD"}}, "logLevel"),
        ({"operator": {"watchNamespaces": ["Not_A_Namespace"]}}, "watchNamespaces"),
        ({"operator": {"metricsPort": 8080, "healthPort": 8080}}, "must differ"),
        ({"runtimeImage": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"operator": {"clusterDomain": "Not_A_Domain"}}, "clusterDomain"),
        ({"operator": {"defaultResources": {"requests": {"cpu": "lots"}}}}, "cpu"),
        ({"operator": {"defaultResources": {"requests": {"disk": "1Gi"}}}}, "disk"),
    ],
)
def test_bad_values_are_rejected(helm: Path, tmp_path: Path, values: dict[str, Any], message: str) -> None:
    proc = subprocess.run(
        [str(helm), "template", "x", str(CHART), *values_file(tmp_path, values)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert message in proc.stderr


# -- what the templates render ----------------------------------------------------------------------
def test_operator_pod_is_locked_down(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path)
    pods = [one(objects, "Deployment")["spec"]["template"]["spec"], one(objects, "Pod")["spec"]]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]
    operator = pods[0]["containers"][0]
    assert "readinessProbe" not in operator
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_one_operator_at_a_time(helm: Path, tmp_path: Path) -> None:
    deployment = one(template(helm, tmp_path), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = container_env(deployment)
    assert "MLENDPOINTS_PEERING" not in env, "standalone: the chart runs no kopf peering"
    assert SCHEMA["properties"]["replicaCount"]["maximum"] == 1


def test_images_by_tag_or_digest(helm: Path, tmp_path: Path) -> None:
    deployment = one(template(helm, tmp_path), "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/mlendpoints/operator:0.1.0"
    assert container["args"] == ["run"]
    assert container_env(deployment)["MLENDPOINTS_RUNTIME_IMAGE"] == "ghcr.io/mlendpoints/runtime:0.1.0"

    values = {
        "image": {"repository": "registry.local/op", "digest": DIGEST, "tag": "ignored"},
        "runtimeImage": {"repository": "registry.local/rt", "tag": "9.9.9"},
        "imagePullSecrets": [{"name": "regcred"}],
    }
    objects = template(helm, tmp_path, values)
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"registry.local/op@{DIGEST}"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert container_env(deployment)["MLENDPOINTS_RUNTIME_IMAGE"] == "registry.local/rt:9.9.9"
    assert one(objects, "Pod")["spec"]["containers"][0]["image"] == f"registry.local/op@{DIGEST}"


def test_operator_settings_become_its_environment(helm: Path, tmp_path: Path) -> None:
    values = {
        "operator": {
            "watchNamespaces": ["team-b", "team-a"],
            "logLevel": "DEBUG",
            "workers": 3,
            "metricsPort": 9100,
            "healthPort": 9101,
            "extraEnv": [{"name": "EXTRA", "value": "1"}],
        }
    }
    objects = template(helm, tmp_path, values)
    deployment = one(objects, "Deployment")
    env = container_env(deployment)
    assert env["MLENDPOINTS_NAMESPACES"] == "team-a,team-b"
    assert (env["MLENDPOINTS_LOG_LEVEL"], env["MLENDPOINTS_WORKERS"]) == ("DEBUG", "3")
    assert (env["MLENDPOINTS_METRICS_PORT"], env["MLENDPOINTS_LIVENESS_PORT"]) == ("9100", "9101")
    assert env["EXTRA"] == "1"
    ports = {
        p["name"]: p["containerPort"]
        for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert ports == {"metrics": 9100, "health": 9101}
    service = one(objects, "Service")
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        "metrics": (9100, "metrics"),
        "health": (9101, "health"),
    }
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    test_pod = one(objects, "Pod")
    test_env = {e["name"]: e["value"] for e in test_pod["spec"]["containers"][0]["env"]}
    assert test_env["HEALTH_URL"] == "http://mlep-mlendpoints.mlendpoints.svc:9101/healthz"
    assert not set(service["spec"]["selector"].items()) <= set(test_pod["metadata"]["labels"].items()), (
        "the Service must not select the helm test pod"
    )


def test_network_policy_values_become_the_operators_environment(helm: Path, tmp_path: Path) -> None:
    env = container_env(one(template(helm, tmp_path), "Deployment"))
    assert env["MLENDPOINTS_NETWORK_POLICY"] == "true"
    assert env["MLENDPOINTS_NETWORK_POLICY_NAMESPACES"] == "ingress-nginx"
    assert env["MLENDPOINTS_NETWORK_POLICY_SAME_NAMESPACE"] == "true"
    values = {
        "networkPolicy": {
            "enabled": False,
            "fromNamespaces": ["traefik", "monitoring"],
            "allowSameNamespace": False,
        }
    }
    env = container_env(one(template(helm, tmp_path, values), "Deployment"))
    assert env["MLENDPOINTS_NETWORK_POLICY"] == "false"
    assert env["MLENDPOINTS_NETWORK_POLICY_NAMESPACES"] == "monitoring,traefik"
    assert env["MLENDPOINTS_NETWORK_POLICY_SAME_NAMESPACE"] == "false"


def test_rendering_values_reach_the_operators_render_settings(
    helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chart values -> the Deployment's environment -> OperatorSettings -> what the renderers use."""
    from mlendpoints.controller.settings import OperatorSettings

    values = {
        "runtimeImage": {"pullPolicy": "Always"},
        "operator": {
            "clusterDomain": "corp.example",
            "defaultResources": {"requests": {"cpu": "250m"}, "limits": {"memory": "2Gi"}},
        },
    }
    for name, value in container_env(one(template(helm, tmp_path, values), "Deployment")).items():
        if name.startswith("MLENDPOINTS_"):
            monkeypatch.setenv(name, value)
    render = OperatorSettings.from_env().render_settings()
    assert (render.image_pull_policy, render.cluster_domain) == ("Always", "corp.example")
    # Helm merges maps: the memory request keeps the chart's default.
    assert render.default_resources == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "2Gi"},
    }


def test_scheduling_values_reach_the_pod(helm: Path, tmp_path: Path) -> None:
    values = {
        "nodeSelector": {"pool": "system"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}
                    ]
                }
            }
        },
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"a": "b"},
        "podLabels": {"team": "ml"},
    }
    pod = one(template(helm, tmp_path, values), "Deployment")["spec"]["template"]
    spec = pod["spec"]
    assert spec["nodeSelector"] == values["nodeSelector"]
    assert spec["tolerations"] == values["tolerations"]
    assert spec["affinity"] == values["affinity"]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert pod["metadata"]["annotations"]["a"] == "b"
    assert pod["metadata"]["labels"]["team"] == "ml"


def test_service_monitor_is_optional_and_scrapes_the_metrics_port(helm: Path, tmp_path: Path) -> None:
    assert not of_kind(template(helm, tmp_path), "ServiceMonitor")
    objects = template(helm, tmp_path, {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}})
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert set(monitor["spec"]["selector"]["matchLabels"].items()) <= set(
        service["metadata"]["labels"].items()
    )


def test_crds_are_templates_behind_values_and_kept_on_uninstall(helm: Path, tmp_path: Path) -> None:
    crds = of_kind(template(helm, tmp_path), "CustomResourceDefinition")
    assert len(crds) == len(KINDS)
    assert all(c["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"} for c in crds)
    assert not of_kind(template(helm, tmp_path, {"crds": {"enabled": False}}), "CustomResourceDefinition")
    unkept = of_kind(template(helm, tmp_path, {"crds": {"keep": False}}), "CustomResourceDefinition")
    assert len(unkept) == len(KINDS)
    assert all("annotations" not in c["metadata"] for c in unkept)
    assert not (CHART / "crds").exists(), "CRDs live under templates/ (Helm never upgrades crds/)"


def test_names_are_truncated_to_63_characters(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path, release="r" * 53)
    for obj in objects:
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
        for value in (obj["metadata"].get("labels") or {}).values():
            assert len(str(value)) <= 63


def test_helm_test_hook_renders(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path)
    hooks = [o for o in objects if (o["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    assert {o["kind"] for o in hooks} == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Pod"}
    # The test's only permission: GET the operator Service's health port through the API server.
    fullname = "mlep-mlendpoints"
    assert one(hooks, "Role")["rules"] == [
        {"apiGroups": [""], "resources": ["services/proxy"], "resourceNames": [f"http:{fullname}:health"],
         "verbs": ["get"]}
    ]  # fmt: skip
    assert (
        one(hooks, "RoleBinding")["subjects"][0]["name"] == one(hooks, "ServiceAccount")["metadata"]["name"]
    )
    config_map = one(hooks, "ConfigMap")
    assert config_map["data"]["check.py"] == (CHART / "files" / "helm-test.py").read_text()
    pod = one(hooks, "Pod")
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["command"] == ["python", "/scripts/check.py"]
    expected = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}["EXPECTED_RESOURCES"]
    from mlendpoints.api.v1alpha1 import KINDS

    assert set(expected.split(",")) == {k.crd.plural for k in KINDS}
    proxy = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}["HEALTH_PROXY_PATH"]
    assert proxy == f"/api/v1/namespaces/mlendpoints/services/http:{fullname}:health/proxy/healthz"
    disabled = template(helm, tmp_path, {"tests": {"enabled": False}})
    assert not [o for o in disabled if (o["metadata"].get("annotations") or {}).get("helm.sh/hook")]


def test_chart_version_and_app_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    import mlendpoints

    assert chart["appVersion"] == mlendpoints.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["apiVersion"] == "v2"


def test_manifests_for_installs_without_helm_are_current(helm: Path) -> None:
    from tests.chart import rendered

    assert rendered.OUTPUT.read_text() == rendered.render(helm), "run `python -m tests.chart.rendered`"
