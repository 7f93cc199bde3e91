"""NetworkPolicy renderers: who may reach scoring pods; where batch pods may connect."""

from __future__ import annotations

from typing import Any

from mlendpoints.render import networkpolicy
from mlendpoints.render.settings import RenderSettings
from tests.unit.render.builders import NAMESPACE, children, deployment, endpoint


def _admitted(policy: dict[str, Any]) -> set[str]:
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    (peer,) = rule["from"]
    (expr,) = peer["namespaceSelector"]["matchExpressions"]
    assert (expr["key"], expr["operator"]) == ("kubernetes.io/metadata.name", "In")
    return set(expr["values"])


def test_default_admits_the_gateways_namespace_the_ingress_controller_and_the_own_namespace() -> None:
    ep = endpoint(
        routing={
            "type": "gatewayAPI",
            "parentRefs": [{"name": "gw", "namespace": "infra"}, {"name": "local"}],
        }
    )
    policy = children(deployment(), ep)["NetworkPolicy"]
    assert policy["metadata"]["name"] == "ep1-blue"
    assert policy["metadata"]["ownerReferences"][0]["uid"] == "uid-dep-blue"
    assert policy["metadata"]["labels"]["mlendpoints.io/owner-uid"] == "uid-dep-blue"
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {"mlendpoints.io/endpoint": "ep1", "mlendpoints.io/deployment": "blue"}
    }
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert _admitted(policy) == {"infra", NAMESPACE, "ingress-nginx"}


def test_default_gateway_namespace_when_the_endpoint_names_none() -> None:
    settings = RenderSettings(default_gateway="shared-gw/inference", network_policy_namespaces=())
    policy = children(deployment(), endpoint(), settings=settings)["NetworkPolicy"]
    assert _admitted(policy) == {"shared-gw", NAMESPACE}


def test_only_the_gateway_when_the_own_namespace_is_not_admitted() -> None:
    settings = RenderSettings(network_policy_namespaces=("monitoring",), network_policy_same_namespace=False)
    ep = endpoint(routing={"type": "gatewayAPI", "parentRefs": [{"name": "gw", "namespace": "infra"}]})
    assert _admitted(children(deployment(), ep, settings=settings)["NetworkPolicy"]) == {
        "infra",
        "monitoring",
    }


def test_nothing_admitted_leaves_no_ingress_rule() -> None:
    settings = RenderSettings(network_policy_namespaces=(), network_policy_same_namespace=False)
    policy = children(deployment(), endpoint(routing={"type": "none"}), settings=settings)["NetworkPolicy"]
    assert "ingress" not in policy["spec"]  # selected, no rule: every connection is refused
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_off_switch() -> None:
    assert "NetworkPolicy" not in children(
        deployment(), endpoint(), settings=RenderSettings(network_policy=False)
    )


def test_batch_egress_allows_dns_and_the_targets_only() -> None:
    policy = networkpolicy.batch_egress(
        name="job-1",
        namespace="ml",
        pod_labels={"batch.kubernetes.io/job-name": "job-1"},
        object_labels={"app.kubernetes.io/part-of": "mlendpoints"},
        owner_reference={
            "apiVersion": "mlendpoints.io/v1alpha1",
            "kind": "BatchJob",
            "name": "job-1",
            "uid": "u",
        },
        targets=[networkpolicy.EgressTarget("10.1.2.0/24", (443, 9000))],
    )
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Egress"]
    dns, storage = spec["egress"]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert dns["to"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system"]
    assert storage == {
        "to": [{"ipBlock": {"cidr": "10.1.2.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 9000}],
    }
