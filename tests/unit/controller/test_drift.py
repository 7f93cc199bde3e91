"""Drift in what the operator owns is corrected by the next reconcile (in-memory API)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from mlendpoints.backends.kubernetes import deployment, endpoint
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from tests.unit.controller.fakekube import FakeKube
from tests.unit.controller.test_status_writes import NS, _objects, _reconcile_all


def test_an_env_var_and_a_node_selector_added_by_hand_are_removed_and_a_hijacked_selector_restored() -> None:
    kube = FakeKube()
    for obj in _objects():
        kube.put(obj)

    async def scenario() -> None:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        await _reconcile_all(manager)
        live = kube.edit("Deployment", NS, "ep1-blue")
        live["spec"]["template"]["spec"]["containers"][0]["env"].append(
            {"name": "MLENDPOINTS_DEBUG", "value": "true"}
        )
        live["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "elsewhere"}
        svc = kube.edit("Service", NS, "ep1-blue")
        svc["spec"]["selector"]["hijack"] = "yes"
        for obj in (live, svc):  # the API server gives every change a new resourceVersion
            obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1000)
        manager.observe("Deployment", "MODIFIED", live)
        manager.observe("Service", "MODIFIED", svc)
        await deployment.reconcile(manager.ctx, NS, "blue")

    asyncio.run(scenario())
    env = kube.objects[("Deployment", NS, "ep1-blue")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "MLENDPOINTS_DEBUG" not in {e["name"] for e in env}
    assert "nodeSelector" not in kube.objects[("Deployment", NS, "ep1-blue")]["spec"]["template"]["spec"]
    assert "hijack" not in kube.objects[("Service", NS, "ep1-blue")]["spec"]["selector"]


def test_a_deleted_keys_secret_is_recreated_with_new_keys_and_a_warning_event() -> None:
    kube = FakeKube()
    for obj in _objects():
        kube.put(obj)

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        first = dict(kube.objects[("Secret", NS, "ep1-keys")]["data"])
        assert not [e for e in kube.events if "was deleted" in e[1]]
        del kube.objects[("Secret", NS, "ep1-keys")]
        # Secrets are not watched: the next full reconcile (any change beyond a status) notices
        manager.ctx.changed(("OnlineEndpoint", NS, "ep1"))
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        return first, dict(kube.objects[("Secret", NS, "ep1-keys")]["data"])

    first, second = asyncio.run(scenario())
    assert first["primaryKey"] != second["primaryKey"]
    assert first["secondaryKey"] != second["secondaryKey"]
    warnings = [m for reason, m in kube.events if reason == "KeysRegenerated"]
    assert warnings == [
        "keys Secret 'ep1-keys' was deleted: new primary and secondary keys were generated; clients must use the new keys"
    ]


def test_a_status_change_is_answered_from_the_cache_and_a_spec_change_reads_everything() -> None:
    """A light reconcile (only statuses changed since the last full one) makes no API read: not
    the keys Secret, not the code ConfigMap; a hand edit of a child makes the next one full."""
    kube = FakeKube()
    for obj in _objects():
        kube.put(obj)

    def changed(kind: str, name: str, edit: Any) -> None:
        live = kube.objects[(kind, NS, name)]
        edit(live)
        live["metadata"]["resourceVersion"] = str(int(live["metadata"]["resourceVersion"]) + 1000)
        manager.observe(kind, "MODIFIED", copy.deepcopy(live))

    def available(dep: dict[str, Any]) -> None:
        gen = dep["metadata"]["generation"]
        counts = {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
        dep["status"] = {"observedGeneration": gen, **counts}

    def hand_edit(dep: dict[str, Any]) -> None:
        dep["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "elsewhere"}

    manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]

    async def scenario() -> tuple[dict[str, int], dict[str, int]]:
        await manager._prime()
        await _reconcile_all(manager)
        kube.reads.clear()
        changed("Deployment", "ep1-blue", available)
        await deployment.reconcile(manager.ctx, NS, "blue")
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        light = dict(kube.reads)
        changed("Deployment", "ep1-blue", hand_edit)
        await deployment.reconcile(manager.ctx, NS, "blue")
        return light, dict(kube.reads)

    light, full = asyncio.run(scenario())
    assert light == {}
    dep_status = kube.objects[("OnlineDeployment", NS, "blue")]["status"]
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in dep_status["conditions"])
    assert kube.objects[("OnlineEndpoint", NS, "ep1")]["status"]["traffic"] == {"blue": 100}
    assert full.get("Secret")
    assert full.get("ConfigMap")
    assert "nodeSelector" not in kube.objects[("Deployment", NS, "ep1-blue")]["spec"]["template"]["spec"]
