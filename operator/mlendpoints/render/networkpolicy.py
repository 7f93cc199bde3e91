"""NetworkPolicies: who may reach scoring pods, and where batch pods may connect.

:func:`scoring_ingress` (one per OnlineDeployment, on by default): the scoring pods accept TCP
connections on their ``http`` port only from

* the Gateway's namespace(s): each ``routing.parentRefs[].namespace`` (default: the endpoint's own
  namespace), or the namespace of the operator's default Gateway when the endpoint names none;
* :attr:`RenderSettings.network_policy_namespaces` (e.g. ``ingress-nginx`` for routing ``ingress``,
  or a monitoring namespace that scrapes ``/metrics``);
* the endpoint's own namespace, when :attr:`RenderSettings.network_policy_same_namespace` (routing
  ``none`` serves in-namespace clients only).

Namespaces are matched by the ``kubernetes.io/metadata.name`` label, which the API server sets on
every namespace and which cannot be changed. Other ports (custom containers' separate probe ports)
get no rule and so are closed to pods; kubelet probes come from the node and are not subject to
NetworkPolicy on common CNIs. A NetworkPolicy only has effect where the CNI enforces it.

:func:`batch_egress` (for the batch renderer): pods may connect only to the cluster DNS and to the
given CIDRs/ports (their inputs' and outputs' storage endpoints).

Source of the rules: Kubernetes NetworkPolicy (networking.k8s.io/v1) semantics: a pod selected by
a policy of a given type admits only what some policy allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlendpoints.api.v1alpha1.online import OnlineDeployment, OnlineEndpoint, RoutingType
from mlendpoints.render import labels, meta, names
from mlendpoints.render.settings import RenderSettings
from mlendpoints.render.types import Obj

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _namespaces_peer(namespaces: Iterable[str]) -> Obj:
    values = sorted(set(namespaces))
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": values}]
        }
    }


def gateway_namespaces(endpoint: OnlineEndpoint, settings: RenderSettings) -> set[str]:
    """Namespaces whose pods forward the endpoint's traffic (its Gateways'), as far as the spec says."""
    _, ep_ns, _ = meta.identity(endpoint)
    routing = endpoint.spec.routing
    if routing.type in (RoutingType.ingress, RoutingType.none):
        return set()
    if routing.parent_refs:
        return {ref.namespace or ep_ns for ref in routing.parent_refs}
    if settings.default_gateway and "/" in settings.default_gateway:
        return {settings.default_gateway.split("/", 1)[0]}
    return set()


def scoring_ingress(
    dep: OnlineDeployment, *, endpoint: OnlineEndpoint, settings: RenderSettings
) -> Obj | None:
    """The NetworkPolicy of one deployment's scoring pods, or None when turned off.

    Shape: ``networking.k8s.io/v1`` NetworkPolicy named like the Deployment, selecting the
    deployment's pods, ``policyTypes: [Ingress]``, one rule: TCP to port ``http`` from the
    allowed namespaces. With no allowed namespace at all there is no rule: nothing is admitted.
    """
    if not settings.network_policy:
        return None
    dep_name, dep_ns, uid = meta.identity(dep)
    ep_name = endpoint.metadata.name or ""
    allowed = gateway_namespaces(endpoint, settings) | set(settings.network_policy_namespaces)
    if settings.network_policy_same_namespace:
        allowed.add(dep_ns)
    name = names.deployment_object(ep_name, dep_name)
    std = labels.standard(
        instance=name,
        component=labels.COMPONENT_SCORING,
        endpoint=ep_name,
        owner_uid=uid,
        deployment=dep_name,
    )
    spec: Obj = {
        "podSelector": {"matchLabels": labels.selector(ep_name, dep_name)},
        "policyTypes": ["Ingress"],
    }
    if allowed:  # no rule at all (the API server drops an empty list) admits nothing
        spec["ingress"] = [
            {"from": [_namespaces_peer(allowed)], "ports": [{"protocol": "TCP", "port": "http"}]}
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.object_meta(name, owner=dep, labels=std),
        "spec": spec,
    }


@dataclass(frozen=True)
class EgressTarget:
    """Where batch pods may connect: a CIDR (``10.0.0.0/8``, ``203.0.113.7/32``) and TCP ports."""

    cidr: str
    ports: Sequence[int] = (443,)


def batch_egress(
    *,
    name: str,
    namespace: str,
    pod_labels: dict[str, str],
    object_labels: dict[str, str],
    owner_reference: Obj,
    targets: Sequence[EgressTarget],
    dns_namespace: str = "kube-system",
) -> Obj:
    """An egress-only NetworkPolicy for batch pods: DNS (UDP/TCP 53 to ``dns_namespace``) plus ``targets``.

    Shape: ``policyTypes: [Egress]``; pods matched by ``pod_labels``. Ingress is not restricted
    by it (batch pods serve nothing). With no targets only DNS is allowed.
    """
    rules: list[Obj] = [
        {
            "to": [_namespaces_peer([dns_namespace])],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]
    for target in targets:
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": target.cidr}}],
                "ports": [{"protocol": "TCP", "port": p} for p in target.ports],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(object_labels),
            "ownerReferences": [owner_reference],
        },
        "spec": {
            "podSelector": {"matchLabels": dict(pod_labels)},
            "policyTypes": ["Egress"],
            "egress": rules,
        },
    }
