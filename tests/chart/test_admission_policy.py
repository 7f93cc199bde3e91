"""The chart's optional ValidatingAdmissionPolicy, evaluated by the real API server.

Rendered with ``admissionPolicy.enabled`` and applied on its own (no operator needed: the API
server enforces it). Images outside the allowed prefixes and InstanceTypes a namespace is not
allowed are refused with the policy's message; the rest is admitted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import create_namespace, delete_namespace, of_kind, template
from tests.conftest import namespace_name
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.timeout(300)

VALUES = {
    "admissionPolicy": {
        "enabled": True,
        "allowedImagePrefixes": ["registry.example.com/ml/"],
        "defaultAllowedInstanceTypes": ["cpu-small"],
    }
}


def test_policy_is_off_by_default(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path)
    assert not of_kind(objects, "ValidatingAdmissionPolicy")
    assert not of_kind(objects, "ValidatingAdmissionPolicyBinding")


def test_without_image_prefixes_only_the_instance_type_rule_is_rendered(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path, {"admissionPolicy": {"enabled": True}})
    (policy,) = of_kind(objects, "ValidatingAdmissionPolicy")
    assert len(policy["spec"]["validations"]) == 1
    (binding,) = of_kind(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]


@pytest.fixture(scope="module")
def policy(cluster: Any, helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    work = tmp_path_factory.mktemp("vap")
    objects = [
        o
        for o in template(helm, work, VALUES, release="vap")
        if o["kind"] in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    ]
    assert len(objects) == 2
    plain = create_namespace(cluster, namespace_name("vap-plain"))
    gpu = create_namespace(cluster, namespace_name("vap-gpu"))
    cluster.kubectl("annotate", "namespace", gpu, "mlendpoints.io/allowed-instance-types=cpu-small, gpu-a100")
    cluster.apply(objects)
    try:
        yield {"plain": plain, "gpu": gpu}
    finally:
        for obj in objects:
            cluster.kubectl("delete", obj["kind"], obj["metadata"]["name"], "--ignore-not-found", check=False)
        delete_namespace(cluster, plain)
        delete_namespace(cluster, gpu)


def _deployment(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "endpointName": "ep1",
            "model": {"path": "https://models.example.com/m/1/", "type": "mlflow"},
            **spec,
        },
    }


def _create(cluster: Any, obj: dict[str, Any]) -> tuple[bool, str]:
    res = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False)
    return res.returncode == 0, res.stderr


def _denied(cluster: Any, obj: dict[str, Any]) -> str:
    """The denial message (waits for the API server to load the new policy)."""

    def attempt() -> str | None:
        ok, err = _create(cluster, obj)
        return None if ok else err

    return wait_for(attempt, timeout=60, what="the policy to deny")


def test_images_outside_the_allowed_registries_are_refused(cluster: Any, policy: dict[str, str]) -> None:
    ns = policy["plain"]
    err = _denied(cluster, _deployment(ns, "evil", environment={"image": "docker.io/attacker/miner:1"}))
    assert "spec.environment.image: docker.io/attacker/miner:1 is not from an allowed registry" in err
    assert _create(
        cluster, _deployment(ns, "good", environment={"image": "registry.example.com/ml/score:2"})
    )[0]
    assert _create(cluster, _deployment(ns, "default-image"))[0]  # the operator's runtime image


def test_instance_types_per_namespace(cluster: Any, policy: dict[str, str]) -> None:
    plain, gpu = policy["plain"], policy["gpu"]
    err = _denied(cluster, _deployment(plain, "big", instanceType="gpu-a100"))
    assert f"spec.instanceType: gpu-a100 is not allowed in namespace {plain} (allowed: cpu-small)" in err
    assert _create(cluster, _deployment(plain, "small", instanceType="cpu-small"))[0]
    assert _create(cluster, _deployment(gpu, "big", instanceType="gpu-a100"))[0]  # the annotation allows it
    err = _denied(cluster, _deployment(gpu, "huge", instanceType="gpu-h200"))
    assert "allowed: cpu-small, gpu-a100" in err
