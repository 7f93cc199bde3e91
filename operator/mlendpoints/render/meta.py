"""Object metadata and owner references for rendered children.

Children are owned by the custom resource that caused them (``controller: true``,
``blockOwnerDeletion: true``), so Kubernetes garbage-collects them when it is deleted and the
watch table (``controller/watches.py``) maps their events back to the owner by this reference.
"""

from __future__ import annotations

from mlendpoints.api.v1alpha1.meta import Resource
from mlendpoints.render.errors import RenderError
from mlendpoints.render.types import Obj


def identity(owner: Resource) -> tuple[str, str, str]:
    """``(name, namespace, uid)`` of an owner, which every render needs.

    Raises:
        RenderError: the body has no namespace or uid (it did not come from the API server; the
            render CLI fills in placeholders).
    """
    meta = owner.metadata
    kind = type(owner).crd.kind
    if not meta.name or not meta.namespace or not meta.uid:
        raise RenderError(
            f"{kind} {meta.name!r}: metadata.name, metadata.namespace and metadata.uid are required"
        )
    return meta.name, meta.namespace, meta.uid


def controller_reference(*, api_version: str, kind: str, name: str, uid: str) -> Obj:
    """The ``ownerReferences`` entry that makes an object the controller of another.

    The one place owner references are built: rendered children (:func:`owner_reference`) and an
    OnlineDeployment adopted by its endpoint (``backends/kubernetes/deployment.py``).
    ``blockOwnerDeletion`` keeps a foreground deletion of the owner waiting for its children
    (Kubernetes garbage collection, ``metav1.OwnerReference``).
    """
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owner_reference(owner: Resource) -> Obj:
    """The controller reference to a typed custom resource (which must have a name and a uid).

    Raises:
        RenderError: see :func:`identity`.
    """
    name, _, uid = identity(owner)
    return controller_reference(api_version=owner.api_version, kind=type(owner).crd.kind, name=name, uid=uid)


def object_meta(
    name: str,
    *,
    owner: Resource,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> Obj:
    """``metadata`` of a namespaced child in its owner's namespace."""
    _, namespace, _ = identity(owner)
    out: Obj = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        out["annotations"] = dict(annotations)
    return out
