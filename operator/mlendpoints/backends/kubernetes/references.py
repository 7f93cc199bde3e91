"""What a resource may point at: Secrets opted in by label, its own endpoint's keys, a host of its own.

The operator creates pods with more rights than the user who wrote the resource may have (the
user may create OnlineDeployments but not read Secrets). So a resource may name only Secrets that
their owner opted in for use by mlendpoints, with the label :data:`ALLOW_REFERENCE_LABEL`
(``mlendpoints.io/allow-reference: "true"``), in its own namespace; Secrets the operator made
(an endpoint's keys) never qualify, label or not; and a scoring pod mounts its endpoint's keys
Secret only when that Secret is the endpoint's own (``mlendpoints.io/owner-uid``). A host served by
an endpoint in another namespace is that endpoint's: the first to claim it (oldest
``creationTimestamp``, then namespace/name) keeps it.

Secrets are read by name (``get``), never listed or watched, so a verdict is re-checked every
:data:`RECHECK_S` seconds while it stands, and at once on any change to the resource.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body, Store
from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome, State

ALLOW_REFERENCE_LABEL = "mlendpoints.io/allow-reference"
OWNER_UID_LABEL = "mlendpoints.io/owner-uid"
RECHECK_S = 30.0
#: a keys Secret the endpoint is about to create is looked for again sooner
WAIT_S = 1.0


def recheck_later(ctx: Context, item: tuple[str, str, str], problem: Outcome) -> None:
    """Reconcile ``item`` again later: Secrets are not watched, so nothing else would wake it."""
    delay = RECHECK_S if problem.state is State.STALLED else WAIT_S
    asyncio.get_running_loop().call_later(delay, ctx.enqueue, item)


async def check_secrets(ctx: Context, namespace: str, refs: Iterable[tuple[str, str]]) -> Outcome | None:
    """Stalled if any ``(field, secret name)`` in ``refs`` may not be used, else None.

    Only metadata is looked at; the Secret's data is never read into status or logs.
    """
    for field, name in refs:
        secret = await ctx.call(ctx.kube.get, resources.SECRET, namespace, name)
        problem = secret_problem(field, namespace, name, secret)
        if problem is not None:
            return problem
    return None


def secret_problem(field: str, namespace: str, name: str, secret: Body | None) -> Outcome | None:
    """Stalled (``SecretNotFound``/``SecretNotAllowed``, naming ``field``) unless ``secret``, the
    Secret ``namespace/name`` as read (None: absent), may be referenced; else None."""
    if secret is None:
        return Outcome.stalled(
            reasons.SECRET_NOT_FOUND,
            f"{field}: Secret {name!r} does not exist in namespace {namespace!r}",
        )
    labels = secret.get("metadata", {}).get("labels") or {}
    if labels.get(OWNER_UID_LABEL):
        return Outcome.stalled(
            reasons.SECRET_NOT_ALLOWED,
            f"{field}: Secret {name!r} is managed by mlendpoints (an endpoint's keys) and cannot be referenced",
        )
    if labels.get(ALLOW_REFERENCE_LABEL) != "true":
        return Outcome.stalled(
            reasons.SECRET_NOT_ALLOWED,
            f"{field}: Secret {name!r} is not opted in for use by mlendpoints; its owner must label it "
            f'{ALLOW_REFERENCE_LABEL}="true" (kubectl label secret {name} -n {namespace} {ALLOW_REFERENCE_LABEL}=true)',
        )
    return None


async def check_keys_secret(ctx: Context, namespace: str, name: str, endpoint: Body) -> Outcome | None:
    """Stalled unless the keys Secret ``name`` exists and belongs to ``endpoint`` (by owner uid).

    A scoring pod mounts it; one that is missing (the endpoint has not made it yet) is waited for,
    one that belongs to something else (e.g. another endpoint's, the endpoint is Stalled on a
    NameConflict) is never mounted.
    """
    uid = endpoint["metadata"]["uid"]
    secret = await ctx.call(ctx.kube.get, resources.SECRET, namespace, name)  # never cached
    endpoint_name = endpoint["metadata"]["name"]
    if secret is None:
        return Outcome.progressing(
            reasons.WAITING_FOR_ENDPOINT,
            f"waiting for OnlineEndpoint {endpoint_name!r} to create its keys Secret {name!r}",
        )
    holder = (secret.get("metadata", {}).get("labels") or {}).get(OWNER_UID_LABEL)
    if holder != uid:
        return Outcome.stalled(
            reasons.NAME_CONFLICT,
            f"keys Secret {name!r} does not belong to OnlineEndpoint {endpoint_name!r} "
            f"({'owned by another mlendpoints resource' if holder else 'not created by mlendpoints'}); "
            "no pod will mount it: rename the endpoint or delete that Secret",
        )
    return None


def _claims(body: Mapping[str, Any] | None) -> set[str]:
    """Hosts an endpoint takes: ``routing.host``, and for ``*.suffix`` also ``<name>.suffix`` (its URI)."""
    if not body:
        return set()
    host = str((((body.get("spec") or {}).get("routing") or {}).get("host")) or "").lower()
    if not host:
        return set()
    if host.startswith("*."):
        return {host, f"{body.get('metadata', {}).get('name', '')}.{host[2:]}"}
    return {host}


def same_host(store: Store, body: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Body]:
    """Endpoints in other namespaces claiming the host ``body`` has (or ``old`` had): to re-judge."""
    hosts = _claims(body) | _claims(old)
    namespace = body["metadata"].get("namespace")
    return [
        other
        for other in store.all("OnlineEndpoint")
        if other["metadata"].get("namespace") != namespace and _claims(other) & hosts
    ]


def _created(body: Body) -> tuple[str, str, str]:
    meta = body["metadata"]
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace")), str(meta["name"]))


def host_owner(ctx: Context, body: Body) -> Body | None:
    """The endpoint whose namespace owns a host ``body`` claims, when that is another namespace.

    A host belongs to the namespace of its first claim (oldest endpoint claiming it, see
    :func:`_claims`); endpoints of that namespace may share it. Only endpoints in the operator's
    cache count (all namespaces, or the watched ones).
    """
    mine = _claims(body)
    if not mine:
        return None
    claims = [
        other
        for other in ctx.store.all("OnlineEndpoint")
        if not other["metadata"].get("deletionTimestamp") and _claims(other) & mine
    ]
    claims.append(body)
    first = min(claims, key=_created)
    return None if first["metadata"]["namespace"] == body["metadata"]["namespace"] else first


def host_conflict(ctx: Context, body: Body) -> Outcome | None:
    """Stalled when ``spec.routing.host`` is served by an endpoint of another namespace (named)."""
    owner = host_owner(ctx, body)
    if owner is None:
        return None
    meta = owner["metadata"]
    return Outcome.stalled(
        reasons.HOST_CONFLICT,
        f"spec.routing.host: {body['spec']['routing']['host']!r} is already served by OnlineEndpoint {meta['namespace']}/{meta['name']}; "
        "choose another host",
    )
