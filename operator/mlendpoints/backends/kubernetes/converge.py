"""One idempotent apply for a set of children: apply what differs, delete what is stale.

Children carry the label ``mlendpoints.io/owner-uid`` (set by the renderers), which is how stale
ones are found without listing every object in the namespace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients import diff, resources
from mlendpoints.clients.resources import Kind
from mlendpoints.clients.store import Body

log = logging.getLogger(__name__)
OWNER_UID = "mlendpoints.io/owner-uid"


class NameConflict(Exception):
    """A child's name is taken by an object we do not own (the user's, or another endpoint's)."""


def _holder(obj: Body) -> str | None:
    """The uid of the resource that owns ``obj``: its controller ownerReference, else its owner label."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and str(ref.get("apiVersion", "")).startswith("mlendpoints.io/"):
            return str(ref.get("uid"))
    return (obj["metadata"].get("labels") or {}).get(OWNER_UID)


async def _current(
    ctx: Context, obj: Body, *, owner_uid: str, namespace: str, read: Mapping[tuple[str, str], Body | None]
) -> Body | None:
    """The live version of the child ``obj`` (None: absent): from ``read``, the cache, or a GET.

    Raises:
        NameConflict: the name is taken by an object we do not own (confirmed by a GET).
    """
    kind, name = resources.of(obj), obj["metadata"]["name"]
    if (kind.kind, name) in read:
        current = read[(kind.kind, name)]
    else:
        current = await ctx.live(kind, namespace, name)
    if current is not None and _holder(current) != owner_uid:
        # Confirm with a live read before reporting a conflict (the cache may lag behind a delete).
        current = await ctx.call(ctx.kube.get, kind, namespace, name)
    if current is not None:
        holder = _holder(current)
        if holder != owner_uid:
            raise NameConflict(
                f"{kind.kind} {name!r} already exists and is not ours "
                f"({'owned by another mlendpoints resource' if holder else 'not created by mlendpoints'}); "
                "rename the endpoint or deployment, or delete that object"
            )
    return current


async def _write(ctx: Context, obj: Body, current: Body | None, *, namespace: str) -> Body | None:
    """Make the child ``obj`` true of ``current``: remove fields others added, apply if it differs.

    Returns the live object after any write (None: absent and not applied, e.g. a dry client).
    """
    kind, name = resources.of(obj), obj["metadata"]["name"]
    foreign = diff.foreign_fields(obj, current)
    if foreign:
        log.info("remove fields added by others from %s %s/%s", kind.kind, namespace, name)
        current = await ctx.call(ctx.kube.json_patch, kind, namespace, name, foreign)
    if diff.needs_apply(obj, current, manager=ctx.kube.field_manager):
        log.debug("apply %s %s/%s", kind.kind, namespace, name)
        current = await ctx.call(ctx.kube.apply, obj)
        if current is not None and kind.kind in ctx.store.kinds:
            ctx.store.upsert(kind.kind, current)
    return current


async def converge(
    ctx: Context,
    desired: Sequence[Body],
    *,
    owner_uid: str,
    namespace: str,
    prunable: Iterable[Kind],
    read: Mapping[tuple[str, str], Body | None] | None = None,
) -> dict[tuple[str, str], Body]:
    """Make the cluster hold exactly ``desired`` among the owner's children of ``prunable`` kinds.

    ``read``: children of uncached kinds the caller has just read, by (kind, name) (None: absent),
    so they are not read again.

    The children are read, then written, concurrently (they do not depend on each other): one
    round trip each instead of one after the other. Nothing is written when any name is taken.
    Returns the live objects by (kind, name), after any apply.

    Raises:
        NameConflict: a desired name is taken by an object we do not own (confirmed by a GET).
        ValueError: a ``prunable`` kind is not cached (stale children could not be found).
    """
    for kind in prunable:
        if kind.kind not in ctx.store.kinds:
            raise ValueError(f"cannot prune {kind.kind}: not a cached kind (see controller/watches.py)")
    objs = [diff.canonical(rendered) for rendered in desired]
    known = read or {}
    found = await asyncio.gather(
        *(_current(ctx, o, owner_uid=owner_uid, namespace=namespace, read=known) for o in objs)
    )
    written = await asyncio.gather(
        *(_write(ctx, o, current, namespace=namespace) for o, current in zip(objs, found, strict=True))
    )
    live = {
        (resources.of(o).kind, o["metadata"]["name"]): current
        for o, current in zip(objs, written, strict=True)
        if current is not None
    }
    wanted = {(resources.of(o).kind, o["metadata"]["name"]) for o in desired}
    for kind in prunable:
        for obj in ctx.store.by_label(kind.kind, namespace, OWNER_UID, owner_uid):
            name = obj["metadata"]["name"]
            if (kind.kind, name) not in wanted and not obj["metadata"].get("deletionTimestamp"):
                log.info("prune stale %s %s/%s", kind.kind, namespace, name)
                await ctx.call(ctx.kube.delete, kind, namespace, name, uid=obj["metadata"].get("uid"))
    return live


async def prune_by_name(ctx: Context, kind: Kind, namespace: str, name: str, *, owner_uid: str) -> bool:
    """Delete the child ``name`` of an uncached kind (Secrets) if it is the owner's; returns whether it did.

    Such a child cannot be found through the cache, so it is read by name: whether this process
    or an earlier one created it does not matter.
    """
    current = await ctx.call(ctx.kube.get, kind, namespace, name)
    if current is None or _holder(current) != owner_uid:
        return False
    log.info("prune %s %s/%s", kind.kind, namespace, name)
    deleted: bool = await ctx.call(ctx.kube.delete, kind, namespace, name, uid=current["metadata"].get("uid"))
    return deleted


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that turns ``current`` into ``desired`` for the keys ``desired`` names.

    Keys ``desired`` leaves out are kept (they belong to other code paths, e.g. the Azure backend's
    fields); a nested object is made exactly equal (its keys that ``desired`` lacks are set to
    null, since a merge patch would otherwise keep them, and the status would be written forever);
    lists are replaced whole. Empty: nothing to write.
    """
    out: dict[str, Any] = {}
    for key, value in desired.items():
        cur = current.get(key)
        if isinstance(value, dict) and isinstance(cur, dict):
            sub = status_patch(cur, value)
            sub.update(dict.fromkeys(cur.keys() - value.keys()))
            if sub:
                out[key] = sub
        elif cur != value and not (value is None and key not in current):
            out[key] = value
    return out


async def write_status(ctx: Context, body: Body, status: Mapping[str, Any]) -> bool:
    """Patch ``status`` (fields by alias) only where it differs from what is there; returns whether it wrote."""
    patch = status_patch(body.get("status") or {}, status)
    if not patch:
        return False
    kind = resources.of(body)
    meta = body["metadata"]
    updated = await ctx.call(ctx.kube.patch_status, kind, meta.get("namespace"), meta["name"], patch)
    ctx.store.upsert(kind.kind, updated)
    return True
