"""Drift in what the operator owns is corrected by the next reconcile (in-memory API)."""

from __future__ import annotations

import asyncio

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
        live = kube.objects[("Deployment", NS, "ep1-blue")]
        live["spec"]["template"]["spec"]["containers"][0]["env"].append(
            {"name": "MLENDPOINTS_DEBUG", "value": "true"}
        )
        live["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "elsewhere"}
        svc = kube.objects[("Service", NS, "ep1-blue")]
        svc["spec"]["selector"]["hijack"] = "yes"
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
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        return first, dict(kube.objects[("Secret", NS, "ep1-keys")]["data"])

    first, second = asyncio.run(scenario())
    assert first["primaryKey"] != second["primaryKey"]
    assert first["secondaryKey"] != second["secondaryKey"]
    warnings = [m for reason, m in kube.events if reason == "KeysRegenerated"]
    assert warnings == [
        "keys Secret 'ep1-keys' was deleted: new primary and secondary keys were generated; clients must use the new keys"
    ]
