"""An endpoint whose traffic names another endpoint's deployment: DeploymentNotFound naming the
owner, never DeletingWithTraffic (found by a newcomer running docs/cli.md's walkthrough on the demo
cluster, where endpoint ``diabetes`` already has ``blue`` and ``green``)."""

from __future__ import annotations

import asyncio
from typing import Any

from mlendpoints.backends.kubernetes import deployment, endpoint, instancetype
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from mlendpoints.status import reasons
from tests.unit.controller.fakekube import FakeKube
from tests.unit.controller.test_status_writes import NS, _objects, _rollout_step


def _second_endpoint() -> dict[str, Any]:
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "other", "namespace": NS},
        "spec": {"routing": {"type": "none"}, "traffic": {"blue": 100}},
    }


def test_traffic_to_another_endpoints_deployment_names_its_owner_and_stays_not_found() -> None:
    kube = FakeKube()
    for obj in [*_objects(), _second_endpoint()]:
        kube.put(obj)

    async def scenario() -> None:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        await instancetype.reconcile(manager.ctx, "small")
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        await deployment.reconcile(manager.ctx, NS, "blue")
        _rollout_step(kube, manager, replicas=1, readyReplicas=1, availableReplicas=1, updatedReplicas=1)
        await deployment.reconcile(manager.ctx, NS, "blue")
        for _ in range(2):  # the second pass reads the first's status (what _lost looks at)
            await endpoint.reconcile(manager.ctx, NS, "other")

    asyncio.run(scenario())
    other = kube.find("OnlineEndpoint", NS, "other")
    assert other is not None
    conds = {c["type"]: c for c in other["status"]["conditions"]}
    reason = conds["Ready"]["reason"]
    assert reason == reasons.DEPLOYMENT_NOT_FOUND, conds["Ready"]
    assert "belongs to endpoint ep1" in conds["Ready"]["message"]
    summary = {d["name"]: d for d in other["status"].get("deployments") or []}
    assert not summary.get("blue", {}).get("readyReplicas"), "ep1's blue counted as other's"
    ep1 = kube.find("OnlineEndpoint", NS, "ep1")
    assert ep1 is not None
    assert {d["name"] for d in ep1["status"]["deployments"]} == {"blue"}
