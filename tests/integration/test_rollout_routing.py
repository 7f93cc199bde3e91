"""An endpoint is Ready only when its route really serves: the Gateway exists and is Programmed,
and the Gateway accepted the HTTPRoute. Real control plane; the Gateway's controller is the
stand-in of tests/integration/fakegateway.py (it writes the status a real one writes).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import STALL_AFTER, condition, wait_condition
from tests.integration.fakegateway import FakeGatewayController, gateway
from tests.integration.test_online import code_configmap, deployment, endpoint

pytestmark = pytest.mark.usefixtures("operator")


def apply_endpoint(cluster: Any, ns: str, parent: dict[str, str]) -> None:
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "gatewayAPI", "parentRefs": [parent]}),
            deployment(ns, "blue"),
        ]
    )


def test_a_missing_gateway_is_named_then_stalled_and_its_creation_recovers(
    cluster: Any, namespace: str, fake_gateway: FakeGatewayController
) -> None:
    ns = namespace
    apply_endpoint(cluster, ns, {"name": "absent"})
    ep = wait_condition(cluster, "oep", "ep1", ns, "Reconciling", reason="GatewayNotFound")
    assert f"Gateway {ns}/absent does not exist" in condition(ep, "Reconciling")["message"]  # type: ignore[index]
    assert condition(ep, "Ready")["status"] == "Unknown"  # type: ignore[index]
    ep = wait_condition(
        cluster, "oep", "ep1", ns, "Stalled", reason="GatewayNotFound", timeout=STALL_AFTER + 60
    )
    assert f"Gateway {ns}/absent does not exist" in condition(ep, "Stalled")["message"]  # type: ignore[index]
    cluster.apply(gateway(ns, "absent"))
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready")
    # The scoring URI uses the address the Gateway publishes.
    assert ep["status"]["scoringUri"] == f"http://127.0.0.1/endpoints/{ns}/ep1/score"


def test_a_gateway_that_is_not_programmed_keeps_the_endpoint_from_ready(
    cluster: Any, namespace: str, fake_gateway: FakeGatewayController
) -> None:
    ns = namespace
    cluster.apply(gateway(ns, "dark", programmed=False))
    apply_endpoint(cluster, ns, {"name": "dark"})
    ep = wait_condition(cluster, "oep", "ep1", ns, "Reconciling", reason="GatewayNotProgrammed")
    message = condition(ep, "Reconciling")["message"]  # type: ignore[index]
    assert f"Gateway {ns}/dark is not Programmed" in message, message
    assert "AddressNotAssigned" in message, message
    ep = wait_condition(
        cluster, "oep", "ep1", ns, "Stalled", reason="GatewayNotProgrammed", timeout=STALL_AFTER + 60
    )
    cluster.apply(gateway(ns, "dark"))  # drops the annotation: the controller can program it now
    wait_condition(cluster, "oep", "ep1", ns, "Ready")


def test_a_route_the_gateway_rejects_is_stalled_with_the_gateways_reason(
    cluster: Any, namespace: str, fake_gateway: FakeGatewayController
) -> None:
    ns = namespace
    infra = f"{ns[:50]}-infra"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": infra}})
    try:
        # A shared Gateway whose listener admits routes from its own namespace only.
        cluster.apply(gateway(infra, "shared", allow="Same"))
        fake_gateway.watch(infra)
        apply_endpoint(cluster, ns, {"name": "shared", "namespace": infra})
        ep = wait_condition(cluster, "oep", "ep1", ns, "Stalled", reason="RouteNotAccepted")
        message = condition(ep, "Stalled")["message"]  # type: ignore[index]
        assert f"not accepted by Gateway {infra}/shared" in message
        assert "NotAllowedByListeners" in message
        assert condition(ep, "Ready")["status"] == "False"  # type: ignore[index]
        # The platform team opens the listener to all namespaces: the route is accepted.
        cluster.apply(gateway(infra, "shared", allow="All"))
        wait_condition(cluster, "oep", "ep1", ns, "Ready")
    finally:
        cluster.kubectl("delete", "namespace", infra, "--wait=false", check=False)
