"""Status is the typed model, serialized in one place and written only when it changed.

Runs the real OnlineEndpoint/OnlineDeployment/InstanceType reconcilers against the in-memory API
(fakekube.py) and checks the writes they count and the status keys they write against the
generated CRD schemas in crds/.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.backends.kubernetes import deployment, endpoint, instancetype
from mlendpoints.backends.kubernetes.converge import status_patch
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from tests.unit.controller.fakekube import FakeKube

NS = "team-a"
API = "mlendpoints.io/v1alpha1"
CRDS = Path(__file__).resolve().parents[3] / "crds"


def _objects() -> list[dict[str, Any]]:
    return [
        {"apiVersion": API, "kind": "InstanceType", "metadata": {"name": "small"}, "spec": {}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "score", "namespace": NS},
            "data": {"score.py": "def init():\n    pass\n\ndef run(raw):\n    return raw\n"},
        },
        {
            "apiVersion": API,
            "kind": "OnlineEndpoint",
            "metadata": {"name": "ep1", "namespace": NS},
            "spec": {"routing": {"type": "none"}, "traffic": {"blue": 100}},
        },
        {
            "apiVersion": API,
            "kind": "OnlineDeployment",
            "metadata": {"name": "blue", "namespace": NS},
            "spec": {
                "endpointName": "ep1",
                "instanceType": "small",
                "model": {"path": "https://models.example.com/m/1/"},
                "codeConfiguration": {"configMap": {"name": "score"}, "scoringScript": "score.py"},
            },
        },
    ]


async def _reconcile_all(manager: Manager) -> None:
    await instancetype.reconcile(manager.ctx, "small")
    await endpoint.reconcile(manager.ctx, NS, "ep1")
    await deployment.reconcile(manager.ctx, NS, "blue")
    await endpoint.reconcile(manager.ctx, NS, "ep1")


def _run_twice() -> tuple[FakeKube, dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    kube = FakeKube()
    for obj in _objects():
        kube.put(obj)

    async def scenario() -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        await _reconcile_all(manager)
        first = dict(kube.writes)
        await _reconcile_all(manager)
        second = {k: v - first.get(k, 0) for k, v in kube.writes.items() if v - first.get(k, 0)}
        return first, second

    first, second = asyncio.run(scenario())
    return kube, first, second


def test_a_second_reconcile_of_unchanged_objects_writes_nothing() -> None:
    kube, first, second = _run_twice()
    assert first[("patch_status", "OnlineEndpoint")] >= 1
    assert first[("patch_status", "OnlineDeployment")] >= 1
    assert second == {}, f"writes on an unchanged second pass: {second}"
    dep = kube.find("OnlineDeployment", NS, "blue")
    assert dep is not None
    assert [c["reason"] for c in dep["status"]["conditions"]] == ["RollingOut", "RollingOut"]
    assert kube.find("Deployment", NS, "ep1-blue") is not None
    ep = kube.find("OnlineEndpoint", NS, "ep1")
    assert ep is not None
    assert ep["status"]["serviceName"] == "ep1"
    assert ep["status"]["deployments"][0]["name"] == "blue"


def _unknown_keys(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is None:  # a map (additionalProperties) or free-form object
            extra = schema.get("additionalProperties")
            inner = extra if isinstance(extra, dict) else {}
            return [bad for k, v in value.items() for bad in _unknown_keys(v, inner, f"{path}.{k}")]
        out = [f"{path}.{k}" for k in value if k not in props]
        return out + [
            bad for k, v in value.items() if k in props for bad in _unknown_keys(v, props[k], f"{path}.{k}")
        ]
    if isinstance(value, list):
        return [
            bad
            for i, v in enumerate(value)
            for bad in _unknown_keys(v, schema.get("items") or {}, f"{path}[{i}]")
        ]
    return []


@pytest.mark.parametrize(
    ("kind", "namespace", "name", "crd"),
    [
        ("OnlineEndpoint", NS, "ep1", "onlineendpoints"),
        ("OnlineDeployment", NS, "blue", "onlinedeployments"),
        ("InstanceType", "", "small", "instancetypes"),
    ],
)
def test_every_status_key_written_is_in_the_crd_schema(
    kind: str, namespace: str, name: str, crd: str
) -> None:
    """The API server prunes unknown status fields; a pruned key would be rewritten on every reconcile."""
    kube, _, _ = _run_twice()
    written = (kube.find(kind, namespace, name) or {}).get("status")
    assert written, f"{kind} got no status"
    doc = yaml.safe_load((CRDS / f"{crd}.mlendpoints.io.yaml").read_text())
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert _unknown_keys(written, schema, "status") == []


def test_the_status_patch_removes_stale_map_keys_and_keeps_fields_it_does_not_name() -> None:
    current = {"traffic": {"blue": 100, "green": 0}, "provisioningState": "Succeeded", "routing": "none"}
    desired = {"traffic": {"green": 100}, "routing": "none", "scoringUri": None}
    assert status_patch(current, desired) == {"traffic": {"green": 100, "blue": None}}
    assert status_patch(current, {"routing": "none", "traffic": {"blue": 100, "green": 0}}) == {}
