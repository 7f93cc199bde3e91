"""Reconcile BatchEndpoint and BatchDeployment status (references, model/code/claim existence);
BatchJobs are in :mod:`.batchjob`."""

from __future__ import annotations

from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import BatchDeployment, BatchEndpoint
from mlendpoints.api.v1alpha1.batch import BatchDeploymentStatus, BatchEndpointStatus
from mlendpoints.backends.kubernetes import batchjob, outcome, references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome


async def reconcile_endpoint(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "BatchEndpoint", namespace, name, _endpoint, events=False)


async def reconcile_deployment(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "BatchDeployment", namespace, name, _deployment, events=False)


async def reconcile_job(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "BatchJob", namespace, name, batchjob.reconcile, events=True, typed=False)


async def _endpoint(ctx: Context, body: Body, status: BatchEndpointStatus) -> Outcome:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        ep = BatchEndpoint.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    wrong = outcome.check_target("BatchEndpoint", name, ep.spec.target)
    if wrong is not None:
        return wrong
    default = ep.spec.defaults.deployment_name
    status.default_deployment = default
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


async def _deployment(ctx: Context, body: Body, status: BatchDeploymentStatus) -> Outcome:
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
    missing = await batchjob.missing_sources(ctx, dep, namespace)
    if missing is not None:
        return missing
    problem = await references.check_secrets(ctx, namespace, batchjob.deployment_secrets(dep))
    if problem is not None:
        references.recheck_later(ctx, ("BatchDeployment", namespace, body["metadata"]["name"]), problem)
        return problem
    if ctx.store.get("BatchEndpoint", namespace, dep.spec.endpoint_name) is None:
        msg = f"BatchEndpoint {dep.spec.endpoint_name!r} does not exist yet"
        return Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg)
    return Outcome.ready("model and code found")
