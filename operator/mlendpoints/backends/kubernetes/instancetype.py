"""Reconcile an InstanceType: validate it, count its users, and roll the deployments that use it."""

from __future__ import annotations

from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import InstanceType
from mlendpoints.api.v1alpha1.instancetype import InstanceTypeStatus, resolve_name
from mlendpoints.backends.kubernetes import outcome
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients.store import Body
from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome


def users(ctx: Context, name: str) -> list[tuple[str, str]]:
    """(namespace, name) of the OnlineDeployments whose pods this InstanceType shapes."""
    out = []
    for dep in ctx.store.all("OnlineDeployment"):
        spec = dep.get("spec") or {}
        if resolve_name(spec.get("instanceType"), spec.get("resources")) == name:
            out.append((dep["metadata"]["namespace"], dep["metadata"]["name"]))
    return out


async def reconcile(ctx: Context, name: str) -> None:
    await outcome.run(ctx, "InstanceType", None, name, _reconcile, events=False)


async def _reconcile(ctx: Context, body: Body, status: InstanceTypeStatus) -> Outcome:
    status.users = len(users(ctx, body["metadata"]["name"]))
    try:
        InstanceType.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    return Outcome.ready("valid compute profile")
