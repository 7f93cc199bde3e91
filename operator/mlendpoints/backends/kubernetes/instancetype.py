"""Reconcile an InstanceType: validate it, count its users, and roll the deployments that use it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from mlendpoints.api.v1alpha1 import DEFAULT_INSTANCE_TYPE, InstanceType
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import write_status
from mlendpoints.backends.kubernetes.deployment import validation_message
from mlendpoints.status import conditions, reasons
from mlendpoints.status.conditions import Outcome


def users(ctx: Context, name: str) -> list[tuple[str, str]]:
    """(namespace, name) of the OnlineDeployments whose pods this InstanceType shapes."""
    out = []
    for dep in ctx.store.all("OnlineDeployment"):
        spec = dep.get("spec") or {}
        named = spec.get("instanceType")
        if named == name or (name == DEFAULT_INSTANCE_TYPE and not named and not spec.get("resources")):
            out.append((dep["metadata"]["namespace"], dep["metadata"]["name"]))
    return out


async def reconcile(ctx: Context, name: str) -> None:
    body = ctx.store.get("InstanceType", None, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    generation = body["metadata"].get("generation")
    status: dict[str, Any] = {"observedGeneration": generation, "users": len(users(ctx, name))}
    try:
        InstanceType.model_validate(body)
        outcome = Outcome.ready("valid compute profile")
    except ValidationError as exc:
        outcome = Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    status["conditions"] = conditions.apply_outcome(
        (body.get("status") or {}).get("conditions"), outcome, generation=generation
    )
    await write_status(ctx, body, status)
