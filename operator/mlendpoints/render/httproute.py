"""gateway.networking.k8s.io/v1 HTTPRoute: weighted split, header pinning and mirroring.

One route per endpoint (plus overflow routes when the pins exceed the 16-rule limit of a route).
Its rules, in order:

* ``pin-<deployment>``, one per existing deployment: requests with header
  ``azureml-model-deployment: <deployment>`` go to that deployment's Service whatever its weight
  (Azure ML's header; works at 0 % and for deployments not in the traffic map).
* ``default``: weighted ``backendRefs`` per effective traffic (only weights > 0), with a
  ``RequestMirror`` filter per effective mirror target carrying ``percent`` (standard channel
  since Gateway API v1.3). With desired traffic but nothing Ready, the default rule sends to the
  stable Service, which then has no Ready endpoints: clients get 503 (retryable), not a 404. With a
  desired sum of 0 there is no default rule: requests without the header match nothing (404).

Without ``routing.host`` every rule also matches the path prefix ``/endpoints/<ns>/<endpoint>``
and rewrites it to ``/``, so one Gateway listener serves many endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlendpoints.api import contract
from mlendpoints.api.v1alpha1.online import OnlineEndpoint
from mlendpoints.render import labels, meta, names, service
from mlendpoints.render.types import Obj

API_VERSION = "gateway.networking.k8s.io/v1"
PIN_HEADER = contract.DEPLOYMENT_HEADER
#: HTTPRoute.spec.rules maxItems, and HTTPRouteRule.backendRefs maxItems.
MAX_RULES = 16
MAX_BACKENDS = 16


def path_prefix(endpoint: OnlineEndpoint) -> str:
    """The shared-Gateway path of an endpoint without a host."""
    return f"/endpoints/{endpoint.metadata.namespace}/{endpoint.metadata.name}"


def _backend(name: str) -> Obj:
    return {"group": "", "kind": "Service", "name": name, "port": service.PORT}


class _Rules:
    """Match and filters shared by every rule of one endpoint."""

    def __init__(self, endpoint: OnlineEndpoint) -> None:
        self.host = endpoint.spec.routing.host
        self.prefix = "/" if self.host else path_prefix(endpoint)

    def match(self, header: str | None = None) -> Obj:
        out: Obj = {"path": {"type": "PathPrefix", "value": self.prefix}}
        if header is not None:
            out["headers"] = [{"type": "Exact", "name": PIN_HEADER, "value": header}]
        return out

    def filters(self) -> list[Obj]:
        if self.host:
            return []
        rewrite = {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}
        return [{"type": "URLRewrite", "urlRewrite": rewrite}]

    def rule(self, name: str, match: Obj, backends: list[Obj], extra_filters: Sequence[Obj] = ()) -> Obj:
        out: Obj = {"name": name, "matches": [match]}
        filters = [*self.filters(), *extra_filters]
        if filters:
            out["filters"] = filters
        out["backendRefs"] = backends
        return out


def build(
    endpoint: OnlineEndpoint,
    *,
    parent_refs: list[Obj],
    effective: Mapping[str, int],
    mirror: Mapping[str, int],
    pinned: Sequence[str],
    unavailable: bool,
) -> list[Obj]:
    """The HTTPRoute(s); empty when there is no rule to render.

    Args:
        endpoint: The endpoint (owner; host and namespace).
        parent_refs: Gateway parentRefs, already resolved.
        effective: Effective traffic (Ready-gated), at most :data:`MAX_BACKENDS` with weight.
        mirror: Effective mirror percentages.
        pinned: Deployments that exist (not being deleted), each gets a header pin rule.
        unavailable: Traffic is desired but nothing can take it: the default rule sends to the
            stable Service (no endpoints, 503).
    """
    ep_name, _, uid = meta.identity(endpoint)
    r = _Rules(endpoint)
    rules = [
        r.rule(f"pin-{d}", r.match(d), [_backend(names.deployment_object(ep_name, d))])
        for d in sorted(pinned)
    ]
    weighted = [
        _backend(names.deployment_object(ep_name, d)) | {"weight": w} for d, w in effective.items() if w > 0
    ]
    mirrors = [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": _backend(names.deployment_object(ep_name, d)), "percent": p},
        }
        for d, p in mirror.items()
        if p > 0
    ]
    if weighted:
        rules.insert(0, r.rule("default", r.match(), weighted, mirrors))
    elif unavailable:
        rules.insert(0, r.rule("default", r.match(), [_backend(names.endpoint_service(ep_name))]))
    routes: list[Obj] = []
    for index, start in enumerate(range(0, len(rules), MAX_RULES)):
        name = names.route(ep_name, index)
        std = labels.standard(
            instance=name, component=labels.COMPONENT_ENDPOINT, endpoint=ep_name, owner_uid=uid
        )
        spec: Obj = {"parentRefs": [dict(p) for p in parent_refs]}
        if r.host:
            spec["hostnames"] = [r.host]
        spec["rules"] = rules[start : start + MAX_RULES]
        routes.append(
            {
                "apiVersion": API_VERSION,
                "kind": "HTTPRoute",
                "metadata": meta.object_meta(name, owner=endpoint, labels=std),
                "spec": spec,
            }
        )
    return routes
