"""InstanceTypes that could never produce a valid pod are rejected by the API server (CEL, see
tests/data/invalid_manifests.yaml) or, where the API server cannot judge them, Stalled.

A nodeSelector *key* is the case the API server cannot judge: structural schemas cannot bound map
keys, so a CEL rule over them exceeds the cost budget. The operator reports it instead.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import condition, wait_condition
from tests.integration.test_online import API, code_configmap, deployment, endpoint

pytestmark = pytest.mark.usefixtures("operator")


def test_a_node_selector_key_that_is_not_a_label_key_is_stalled_naming_the_field(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    name = f"badkey-{ns[-6:]}"
    cluster.apply(
        {
            "apiVersion": API,
            "kind": "InstanceType",
            "metadata": {"name": name},
            "spec": {"nodeSelector": {"bad key!": "x"}},
        }
    )
    try:
        itype = wait_condition(cluster, "instancetype", name, None, "Stalled", reason="InvalidSpec")
        message = condition(itype, "Stalled")["message"]  # type: ignore[index]
        assert "nodeSelector key 'bad key!' is not a label key" in message, message
        # A deployment using it is Stalled with the InstanceType's reason, not retried forever.
        cluster.apply(
            [
                code_configmap(ns),
                endpoint(ns, routing={"type": "none"}),
                deployment(ns, "blue", instanceType=name),
            ]
        )
        dep = wait_condition(cluster, "odep", "blue", ns, "Stalled", reason="InvalidSpec")
        message = condition(dep, "Stalled")["message"]  # type: ignore[index]
        assert f"InstanceType {name!r} is invalid" in message, message
        assert "nodeSelector" in message, message
    finally:
        cluster.kubectl("delete", "instancetype", name, "--wait=false", check=False)
