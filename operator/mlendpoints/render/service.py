"""v1 Services: one per deployment, and the endpoint's stable Service.

The per-deployment Service is what routes point at (HTTPRoute backendRefs, header pins,
ingress backends). The stable Service, named after the endpoint, selects the pods of the
deployment with the largest *effective* traffic, so ``routing: none`` still gives one in-cluster
URL that follows blue/green cut-overs. When no deployment has effective traffic its selector
names a deployment label value no pod can carry (``""``), so it has no endpoints and clients get
a refused connection (or a 503 through a route) instead of a not-Ready pod's errors.
"""

from __future__ import annotations

from mlendpoints.api.v1alpha1.online import OnlineDeployment, OnlineEndpoint
from mlendpoints.render import labels, meta, names
from mlendpoints.render.types import Obj

#: Service port routes send to; the target is the container port named ``http``.
PORT = 80
#: Selector value that matches no pod (deployment names are never empty).
NO_POD = ""


def _spec(selector: dict[str, str]) -> Obj:
    return {
        "type": "ClusterIP",
        "selector": selector,
        "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
    }


def deployment_service(dep: OnlineDeployment) -> Obj:
    ep_name, dep_name = dep.spec.endpoint_name, dep.metadata.name
    name = names.deployment_object(ep_name, dep_name)
    std = labels.standard(
        instance=name,
        component=labels.COMPONENT_SCORING,
        endpoint=ep_name,
        deployment=dep_name,
        owner_uid=meta.identity(dep)[2],
    )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.object_meta(name, owner=dep, labels=std),
        "spec": _spec(labels.selector(ep_name, dep_name)),
    }


def endpoint_service(endpoint: OnlineEndpoint, *, primary: str | None) -> Obj:
    """The stable Service; ``primary`` is the deployment it selects (None: no pods)."""
    ep_name, _, uid = meta.identity(endpoint)
    name = names.endpoint_service(ep_name)
    std = labels.standard(instance=name, component=labels.COMPONENT_ENDPOINT, endpoint=ep_name, owner_uid=uid)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.object_meta(name, owner=endpoint, labels=std),
        "spec": _spec(labels.selector(ep_name, primary or NO_POD)),
    }
