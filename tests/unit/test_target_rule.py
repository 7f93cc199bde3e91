"""The "target is kubernetes" test lives in one place (api base.on_kubernetes); its users agree."""

from __future__ import annotations

import pytest

from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.api.v1alpha1.base import Target, on_kubernetes
from mlendpoints.backends import azureml
from mlendpoints.backends.kubernetes import outcome
from mlendpoints.clients.store import Store
from mlendpoints.controller import watches
from mlendpoints.render import online
from mlendpoints.render.errors import RenderError
from mlendpoints.render.settings import RenderSettings
from mlendpoints.status import reasons

AZURE = {
    "subscriptionId": "00000000-0000-0000-0000-000000000000",
    "resourceGroup": "rg",
    "workspaceName": "ws",
}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, True),
        ("kubernetes", True),
        (Target.kubernetes, True),
        ("azureml", False),
        (Target.azureml, False),
    ],
)
def test_on_kubernetes(target: str | None, expected: bool) -> None:
    assert on_kubernetes(target) is expected


def _endpoint(target: str | None) -> dict[str, object]:
    spec: dict[str, object] = {} if target is None else {"target": target}
    if target == "azureml":
        spec["azureml"] = AZURE
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "ep1", "namespace": "ns", "uid": "u1", "resourceVersion": "1"},
        "spec": spec,
    }


@pytest.mark.parametrize("target", [None, "kubernetes", "azureml"])
def test_routing_reconciler_and_renderer_agree(target: str | None) -> None:
    body = _endpoint(target)
    store = Store(watches.cached())
    store.upsert("OnlineEndpoint", body)
    kube = on_kubernetes(target)
    assert azureml.handles(store, "OnlineEndpoint", "ns", "ep1") is not kube
    typed = OnlineEndpoint.model_validate(body)
    stalled = outcome.check_target("OnlineEndpoint", "ep1", typed.spec.target)
    assert (stalled is None) is kube
    if stalled is not None:
        assert stalled.reason == reasons.TARGET_UNSUPPORTED
        assert "'ep1' has target azureml" in (stalled.message or "")
    if kube:
        assert online.endpoint_children(
            typed, deployments=[], keys=None, gateway_api_available=False, settings=RenderSettings()
        )
    else:
        with pytest.raises(RenderError, match="target azureml"):
            online.endpoint_children(
                typed, deployments=[], keys=None, gateway_api_available=False, settings=RenderSettings()
            )
