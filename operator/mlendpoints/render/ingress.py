"""networking.k8s.io/v1 Ingress for ingress-nginx: a primary Ingress plus one canary Ingress.

ingress-nginx can split one host/path between a main Ingress and a single canary Ingress
(``nginx.ingress.kubernetes.io/canary-weight``), so this routing supports at most two
deployments with traffic and no mirroring (the endpoint renderer reports more as a problem).

* The primary Ingress sends to the endpoint's stable Service, which selects the deployment with
  the largest effective traffic (no pods, hence 503, when nothing is Ready).
* The canary Ingress sends ``canary-weight`` percent to the other deployment and pins requests
  carrying ``azureml-model-deployment: <canary>`` to it (``canary-by-header``). Pinning works for
  the canary only: ingress-nginx ignores other header values and falls back to the weights.

Without ``routing.host`` the Ingresses match ``/endpoints/<ns>/<endpoint>`` with a regex and
rewrite it to ``/`` (``use-regex``, ``rewrite-target``), like the Gateway API routing.
"""

from __future__ import annotations

from mlendpoints.api.v1alpha1.online import OnlineEndpoint
from mlendpoints.render import labels, meta, names, service
from mlendpoints.render.httproute import PIN_HEADER, path_prefix
from mlendpoints.render.types import Obj

NGINX = "nginx.ingress.kubernetes.io"


def _ingress(endpoint: OnlineEndpoint, *, name: str, backend: str, annotations: dict[str, str]) -> Obj:
    ep_name, _, uid = meta.identity(endpoint)
    routing = endpoint.spec.routing
    notes = dict(annotations)
    path: Obj
    if routing.host:
        path = {"path": "/", "pathType": "Prefix"}
    else:
        notes |= {f"{NGINX}/use-regex": "true", f"{NGINX}/rewrite-target": "/$2"}
        path = {"path": f"{path_prefix(endpoint)}(/|$)(.*)", "pathType": "ImplementationSpecific"}
    path["backend"] = {"service": {"name": backend, "port": {"number": service.PORT}}}
    rule: Obj = {"host": routing.host} if routing.host else {}
    rule["http"] = {"paths": [path]}
    spec: Obj = {}
    if routing.ingress_class_name:
        spec["ingressClassName"] = routing.ingress_class_name
    if routing.tls_secret_name:
        tls: Obj = {"hosts": [routing.host]} if routing.host else {}
        spec["tls"] = [tls | {"secretName": routing.tls_secret_name}]
    spec["rules"] = [rule]
    std = labels.standard(instance=name, component=labels.COMPONENT_ENDPOINT, endpoint=ep_name, owner_uid=uid)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta.object_meta(name, owner=endpoint, labels=std, annotations=notes or None),
        "spec": spec,
    }


def build(endpoint: OnlineEndpoint, *, canary: str | None, canary_weight: int) -> list[Obj]:
    """The primary Ingress, plus the canary Ingress when ``canary`` is set.

    Args:
        endpoint: The endpoint (owner; routing settings).
        canary: The second deployment with traffic, if any.
        canary_weight: Its effective percentage (0 keeps only the header pin).
    """
    ep_name = endpoint.metadata.name
    out = [
        _ingress(
            endpoint, name=names.ingress(ep_name), backend=names.endpoint_service(ep_name), annotations={}
        )
    ]
    if canary is not None:
        notes = {
            f"{NGINX}/canary": "true",
            f"{NGINX}/canary-weight": str(canary_weight),
            f"{NGINX}/canary-by-header": PIN_HEADER,
            f"{NGINX}/canary-by-header-value": canary,
        }
        backend = names.deployment_object(ep_name, canary)
        out.append(_ingress(endpoint, name=names.canary_ingress(ep_name), backend=backend, annotations=notes))
    return out
