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

from mlendpoints.backends.kubernetes import deployment, endpoint, instancetype, outcome
from mlendpoints.backends.kubernetes.converge import status_patch
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from mlendpoints.status.conditions import Outcome
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


def _rollout_step(kube: FakeKube, manager: Manager, **status: int) -> None:
    """The Deployment controller reports a rollout step of the child Deployment (a watch event)."""
    child = kube.find("Deployment", NS, "ep1-blue")
    assert child is not None
    child["status"] = {"observedGeneration": child["metadata"]["generation"], **status}
    child["metadata"]["resourceVersion"] = str(int(child["metadata"]["resourceVersion"]) + 1000)
    manager.observe("Deployment", "MODIFIED", child)


def test_progress_is_written_at_most_once_per_interval_and_transitions_at_once() -> None:
    kube = FakeKube()
    for obj in _objects():
        kube.put(obj)

    async def scenario() -> list[int]:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        await _reconcile_all(manager)  # first status: Reconciling (RollingOut)
        counts = [kube.writes[("patch_status", "OnlineDeployment")]]
        _rollout_step(kube, manager, replicas=1, updatedReplicas=1)
        await deployment.reconcile(manager.ctx, NS, "blue")  # progress only, just written: waits
        counts.append(kube.writes[("patch_status", "OnlineDeployment")])
        manager.ctx.status_written.clear()  # as if the interval had passed
        await deployment.reconcile(manager.ctx, NS, "blue")
        counts.append(kube.writes[("patch_status", "OnlineDeployment")])
        _rollout_step(kube, manager, replicas=1, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
        await deployment.reconcile(manager.ctx, NS, "blue")  # Ready: a transition, written at once
        counts.append(kube.writes[("patch_status", "OnlineDeployment")])
        return counts

    first, waited, after_interval, ready = asyncio.run(scenario())
    assert first >= 1
    assert waited == first
    assert after_interval == first + 1
    assert ready == first + 2
    dep = kube.find("OnlineDeployment", NS, "blue")
    assert dep is not None
    assert dep["status"]["readyReplicas"] == 1
    assert [c["type"] for c in dep["status"]["conditions"]] == ["Ready"]


def test_only_counters_and_reasons_within_reconciling_are_progress() -> None:
    """Traffic, URIs, which deployments are ready, and diagnoses are written at once even while
    Reconciling; a rollout's counts and steps are progress."""
    conds = [
        {"type": "Ready", "status": "Unknown", "reason": "WaitingForDeployments", "message": "0/1"},
        {"type": "Reconciling", "status": "True", "reason": "WaitingForDeployments", "message": "0/1"},
    ]
    body = {
        "kind": "OnlineEndpoint",
        "metadata": {"name": "ep1", "namespace": NS, "generation": 2},
        "status": {
            "observedGeneration": 2,
            "conditions": conds,
            "traffic": {},
            "deployments": [{"name": "blue", "ready": False, "replicas": 0, "effectiveTraffic": 0}],
        },
    }
    waiting = Outcome.progressing("RollingOut", "1/1")
    moved = [{"name": "blue", "ready": False, "replicas": 1, "effectiveTraffic": 0}]
    assert outcome.progress_only(body, waiting, {"deployments": moved, "conditions": conds})
    assert not outcome.progress_only(body, waiting, {"traffic": {"blue": 100}})
    routed = [{"name": "blue", "ready": False, "replicas": 1, "effectiveTraffic": 100}]
    assert not outcome.progress_only(body, waiting, {"deployments": routed})
    assert not outcome.progress_only(body, Outcome.ready("serving"), {})
    diagnosis = Outcome.progressing(
        "GatewayNotProgrammed", "Gateway gw is not Programmed (AddressNotAssigned)"
    )
    assert not outcome.progress_only(body, diagnosis, {})
    newer = {**body, "metadata": {**body["metadata"], "generation": 3}}
    assert not outcome.progress_only(newer, waiting, {})
