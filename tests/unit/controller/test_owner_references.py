"""Owner references are built in one place (render/meta.py): children and adopted deployments agree.

Inputs: an OnlineEndpoint and an OnlineDeployment in the in-memory API (fakekube.py), reconciled by
the real reconcilers. The deployment's reference to its endpoint (written when the endpoint adopts
it) must be the same entry as the endpoint's Service's reference to the endpoint (rendered).
"""

from __future__ import annotations

import asyncio

from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from tests.unit.controller.fakekube import FakeKube

NS = "team-a"
API = "mlendpoints.io/v1alpha1"


def test_adopted_deployment_and_rendered_children_carry_the_same_reference() -> None:
    kube = FakeKube()
    ep = kube.put(
        {
            "apiVersion": API,
            "kind": "OnlineEndpoint",
            "metadata": {"name": "ep1", "namespace": NS},
            "spec": {"routing": {"type": "none"}},
        }
    )
    kube.put(
        {
            "apiVersion": API,
            "kind": "OnlineDeployment",
            "metadata": {"name": "blue", "namespace": NS},
            "spec": {"endpointName": "ep1", "model": {"path": "https://m.example.com/1/", "type": "mlflow"}},
        }
    )

    async def scenario() -> None:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        await manager._reconcile(("OnlineEndpoint", NS, "ep1"))
        await manager._reconcile(("OnlineDeployment", NS, "blue"))

    asyncio.run(scenario())
    expected = {
        "apiVersion": API,
        "kind": "OnlineEndpoint",
        "name": "ep1",
        "uid": ep["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    dep = kube.find("OnlineDeployment", NS, "blue")
    service = kube.find("Service", NS, "ep1")
    assert dep is not None
    assert service is not None
    assert dep["metadata"]["ownerReferences"] == [expected]
    assert service["metadata"]["ownerReferences"] == [expected]
