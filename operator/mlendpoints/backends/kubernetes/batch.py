"""Reconcile BatchEndpoint, BatchDeployment and BatchJob status: validation and references.

This version checks batch resources and reports on them (so GitOps tools and ``kubectl wait``
see the truth), but does not execute BatchJobs: a valid job is reported ``Stalled`` with reason
``BatchExecutionUnavailable`` rather than silently ``Current``. See docs/status.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from mlendpoints.api.v1alpha1 import BatchDeployment, BatchEndpoint, BatchJob
from mlendpoints.backends.kubernetes import outcome
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.outcome import validation_message
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome


async def reconcile_endpoint(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "BatchEndpoint", namespace, name, _endpoint, events=False)


async def reconcile_deployment(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "BatchDeployment", namespace, name, _deployment, events=False)


async def reconcile_job(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "BatchJob", namespace, name, _job, events=False)


async def _endpoint(ctx: Context, body: Body, status: dict[str, Any]) -> Outcome:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        ep = BatchEndpoint.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    if ep.spec.target != "kubernetes":
        return Outcome.stalled(
            reasons.TARGET_UNSUPPORTED, f"target {ep.spec.target} is not reconciled by this build"
        )
    default = ep.spec.defaults.deployment_name
    status["defaultDeployment"] = default
    if default is None:
        return Outcome.ready("no default deployment: jobs must name one")
    dep = ctx.store.get("BatchDeployment", namespace, default)
    if dep is None:
        msg = f"default deployment {default!r} does not exist yet"
        return Outcome.progressing(reasons.WAITING_FOR_DEPLOYMENTS, msg)
    if (dep.get("spec") or {}).get("endpointName") != name:
        msg = f"default deployment {default!r} belongs to endpoint {(dep.get('spec') or {}).get('endpointName')!r}"
        return Outcome.stalled(reasons.ENDPOINT_MISMATCH, msg)
    return Outcome.ready(f"default deployment {default}")


async def _deployment(ctx: Context, body: Body, status: dict[str, Any]) -> Outcome:
    namespace = body["metadata"]["namespace"]
    try:
        dep = BatchDeployment.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    if (
        dep.spec.instance_type
        and await ctx.live(resources.INSTANCE_TYPE, None, dep.spec.instance_type) is None
    ):
        msg = f"InstanceType {dep.spec.instance_type!r} does not exist"
        return Outcome.stalled(reasons.UNKNOWN_INSTANCE_TYPE, msg)
    if ctx.store.get("BatchEndpoint", namespace, dep.spec.endpoint_name) is None:
        msg = f"BatchEndpoint {dep.spec.endpoint_name!r} does not exist yet"
        return Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg)
    return Outcome.ready("valid")


async def _job(ctx: Context, body: Body, status: dict[str, Any]) -> Outcome:
    namespace = body["metadata"]["namespace"]
    try:
        job = BatchJob.model_validate(body)
    except ValidationError as exc:
        status["phase"] = "Failed"
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    ep = ctx.store.get("BatchEndpoint", namespace, job.spec.endpoint_name)
    if ep is None:
        status["phase"] = "Pending"
        msg = f"BatchEndpoint {job.spec.endpoint_name!r} does not exist yet"
        return Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg)
    deployment = job.spec.deployment_name or ((ep.get("spec") or {}).get("defaults") or {}).get(
        "deploymentName"
    )
    status["deploymentName"] = deployment
    if not deployment:
        status["phase"] = "Failed"
        msg = "the job names no deploymentName and the endpoint has no defaults.deploymentName"
        return Outcome.stalled(reasons.INVALID_SPEC, msg)
    if ctx.store.get("BatchDeployment", namespace, deployment) is None:
        status["phase"] = "Pending"
        msg = f"BatchDeployment {deployment!r} does not exist yet"
        return Outcome.progressing(reasons.WAITING_FOR_DEPLOYMENTS, msg)
    status["phase"] = "Pending"
    msg = "this operator version validates BatchJobs but does not execute them (batch execution is a later release)"
    return Outcome.stalled(reasons.BATCH_EXECUTION_UNAVAILABLE, msg)
