"""Standard labels and the pod selector.

Every child carries the ``app.kubernetes.io/*`` recommended labels, ``mlendpoints.io/endpoint``,
``mlendpoints.io/deployment`` (per-deployment children) and ``mlendpoints.io/owner-uid``, which the
reconciler lists by to prune children that the current render no longer produces.

The selector is deliberately minimal and made only of names that never change for a given
OnlineDeployment (a Deployment's selector is immutable, and a changed one would orphan the pods).
"""

from __future__ import annotations

PART_OF = "mlendpoints"
MANAGED_BY = "mlendpoints-operator"
#: app.kubernetes.io/name of everything rendered for online endpoints.
APP_NAME = "mlendpoints-online"

ENDPOINT = "mlendpoints.io/endpoint"
DEPLOYMENT = "mlendpoints.io/deployment"
OWNER_UID = "mlendpoints.io/owner-uid"

#: app.kubernetes.io/component values.
COMPONENT_SCORING = "scoring"
COMPONENT_ENDPOINT = "endpoint"


def selector(endpoint: str, deployment: str) -> dict[str, str]:
    """Pod selector of one deployment: stable, minimal, immutable-safe."""
    return {ENDPOINT: endpoint, DEPLOYMENT: deployment}


def standard(
    *, instance: str, component: str, endpoint: str, owner_uid: str, deployment: str | None = None
) -> dict[str, str]:
    """The labels every child object carries.

    Args:
        instance: ``app.kubernetes.io/instance``: the child's name (``<endpoint>-<deployment>`` or
            ``<endpoint>``).
        component: ``scoring`` for per-deployment children, ``endpoint`` for the endpoint's.
        endpoint: Endpoint name.
        owner_uid: UID of the owning custom resource; the reconciler prunes by it.
        deployment: Deployment name, for per-deployment children.
    """
    out = {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        ENDPOINT: endpoint,
        OWNER_UID: owner_uid,
    }
    if deployment is not None:
        out[DEPLOYMENT] = deployment
    return out
