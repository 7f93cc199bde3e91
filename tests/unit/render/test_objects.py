"""What every rendered object carries: names, standard labels, owner references."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlendpoints.render import names, online
from mlendpoints.render.online import DeploymentState
from mlendpoints.render.settings import RenderSettings
from tests.unit.render.builders import deployment, endpoint

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
EP = "endpoint-name-of-thirty-two-char"  # 32 characters, Azure ML's maximum
DEP = "deployment-name-thirty-two-chars"


def _everything() -> list[tuple[dict[str, Any], str]]:
    """(object, owner kind) for a maximal endpoint + deployment."""
    assert len(EP) == 32
    assert len(DEP) == 32
    ep = endpoint(
        EP,
        traffic={DEP: 100},
        routing={"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]},
    )
    dep = deployment(
        DEP, EP, scaleSettings={"type": "targetUtilization", "minInstances": 2, "maxInstances": 4}
    )
    dep_objs = online.deployment_children(
        dep, endpoint=ep, compute=None, code_hash="h", settings=RenderSettings()
    )
    ep_objs = online.endpoint_children(
        ep,
        deployments=[DeploymentState(DEP, ready=True)],
        keys=("a", "b"),
        gateway_api_available=True,
        settings=RenderSettings(),
    ).objects
    return [(o, "OnlineDeployment") for o in dep_objs] + [(o, "OnlineEndpoint") for o in ep_objs]


def test_all_kinds_are_rendered() -> None:
    kinds = sorted(o["kind"] for o, _ in _everything())
    assert kinds == [
        "Deployment", "HTTPRoute", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Secret",
        "Service", "Service",
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(8))
def test_labels_owner_references_and_names_on_every_object(index: int) -> None:
    obj, owner_kind = _everything()[index]
    meta = obj["metadata"]
    assert len(meta["name"]) <= 63
    assert DNS1035.match(meta["name"]), meta["name"]
    assert meta["namespace"] == "ml"
    labels = meta["labels"]
    assert labels["app.kubernetes.io/part-of"] == "mlendpoints"
    assert labels["app.kubernetes.io/managed-by"] == "mlendpoints-operator"
    assert labels["app.kubernetes.io/name"] == "mlendpoints-online"
    assert labels["app.kubernetes.io/instance"] == meta["name"]
    assert labels["mlendpoints.io/endpoint"] == EP
    assert all(len(v) <= 63 for v in labels.values())
    (ref,) = meta["ownerReferences"]
    assert ref["kind"] == owner_kind
    assert ref["apiVersion"] == "mlendpoints.io/v1alpha1"
    assert ref["controller"] is True
    assert ref["blockOwnerDeletion"] is True
    if owner_kind == "OnlineDeployment":
        assert ref == {**ref, "name": DEP, "uid": f"uid-dep-{DEP}"}
        assert labels["app.kubernetes.io/component"] == "scoring"
        assert labels["mlendpoints.io/deployment"] == DEP
        assert labels["mlendpoints.io/owner-uid"] == f"uid-dep-{DEP}"
    else:
        assert ref == {**ref, "name": EP, "uid": f"uid-ep-{EP}"}
        assert labels["app.kubernetes.io/component"] == "endpoint"
        assert labels["mlendpoints.io/owner-uid"] == f"uid-ep-{EP}"


def test_pods_carry_the_standard_labels() -> None:
    dep_obj = next(o for o, _ in _everything() if o["kind"] == "Deployment")
    pod_labels = dep_obj["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == dep_obj["metadata"]["labels"]


def test_long_names_are_cut_with_a_stable_hash() -> None:
    name = names.deployment_object(EP, DEP)
    assert len(name) == 63
    assert DNS1035.match(name)
    assert name == names.deployment_object(EP, DEP)  # stable
    assert name != names.deployment_object(EP, DEP[:-1] + "x")  # unique
    assert names.deployment_object("ep1", "blue") == "ep1-blue"


def test_names_of_endpoint_children() -> None:
    assert names.endpoint_service("ep1") == "ep1"
    assert names.keys_secret("ep1") == "ep1-keys"
    assert names.route("ep1") == "ep1"
    assert names.ingress("ep1") == "ep1"
    assert names.canary_ingress("ep1") == "ep1-canary"
