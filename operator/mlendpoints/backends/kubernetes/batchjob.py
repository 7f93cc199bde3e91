"""Reconcile one BatchJob: resolve its deployment, create its Indexed Job once (server-side
apply, owned by the BatchJob), then mirror the Job's progress into status.

The Job is rendered and applied only while it does not exist: a Job's pod template is immutable,
and a running job keeps the deployment it started with even if the deployment changes or goes
away. Afterwards only ``spec.suspend`` (cancel/resume) is propagated. Deleting the BatchJob
deletes the Job and its pods (owner reference); outputs are never touched.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import BatchDeployment, BatchJob, InstanceType
from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec
from mlendpoints.backends.kubernetes import references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import OWNER_UID
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.render import batchjob as render
from mlendpoints.render.errors import RenderError
from mlendpoints.status import batchjobs, reasons
from mlendpoints.status.conditions import Outcome

log = logging.getLogger(__name__)


def _claims(*uris: str | None) -> list[str]:
    return [u[len("pvc://") :].split("/", 1)[0] for u in uris if u and u.startswith("pvc://")]


async def missing_sources(ctx: Context, dep: BatchDeployment, namespace: str) -> Outcome | None:
    """Stalled when the deployment's model/code claim or code ConfigMap does not exist."""
    code = dep.spec.code_configuration
    for claim in _claims(dep.spec.model.path, code.code if code else None):
        if await ctx.live(resources.PVC, namespace, claim) is None:
            return Outcome.stalled(reasons.CLAIM_NOT_FOUND, f"PersistentVolumeClaim {claim!r} does not exist")
    if code is not None and code.config_map is not None:
        cm = await ctx.live(resources.CONFIGMAP, namespace, code.config_map.name)
        if cm is None:
            return Outcome.stalled(
                reasons.CODE_NOT_FOUND,
                f"ConfigMap {code.config_map.name!r} with the scoring code does not exist",
            )
        if code.scoring_script not in {**(cm.get("data") or {}), **(cm.get("binaryData") or {})}:
            msg = f"ConfigMap {code.config_map.name!r} has no key {code.scoring_script!r}"
            return Outcome.stalled(reasons.INVALID_SPEC, msg)
    return None


def deployment_secrets(dep: BatchDeployment, prefix: str = "") -> list[tuple[str, str]]:
    """``(field, Secret name)`` the deployment's pods would use (see :mod:`.references`)."""
    ref = dep.spec.model.credentials_secret_ref
    return [(f"{prefix}spec.model.credentialsSecretRef", ref.name)] if ref is not None else []


def job_secrets(job: BatchJob, dep: BatchDeployment) -> list[tuple[str, str]]:
    """``(field, Secret name)`` the job's pods would use: its inputs', its output's, its deployment's."""
    refs = [
        (f"spec.inputs.{name}.credentialsSecretRef", inp.credentials_secret_ref.name)
        for name, inp in sorted(job.spec.inputs.items())
        if inp.credentials_secret_ref is not None
    ]
    if job.spec.output is not None and job.spec.output.credentials_secret_ref is not None:
        refs.append(("spec.output.credentialsSecretRef", job.spec.output.credentials_secret_ref.name))
    return refs + deployment_secrets(dep, prefix=f"BatchDeployment {dep.metadata.name!r} ")


async def _compute(ctx: Context, dep: BatchDeployment) -> InstanceTypeSpec | None:
    if not dep.spec.instance_type:
        return None
    body = await ctx.live(resources.INSTANCE_TYPE, None, dep.spec.instance_type)
    return InstanceType.model_validate(body).spec if body is not None else None


async def _resolve(
    ctx: Context, job: BatchJob, namespace: str, status: dict[str, Any]
) -> BatchDeployment | Outcome:
    """The deployment the job runs with, or why it cannot start (Pending/Failed)."""
    ep = ctx.store.get("BatchEndpoint", namespace, job.spec.endpoint_name)
    if ep is None:
        status["phase"] = "Pending"
        msg = f"BatchEndpoint {job.spec.endpoint_name!r} does not exist yet"
        return Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg)
    name = job.spec.deployment_name or ((ep.get("spec") or {}).get("defaults") or {}).get("deploymentName")
    status["deploymentName"] = name
    if not name:
        status["phase"] = "Failed"
        msg = "the job names no deploymentName and the endpoint has no defaults.deploymentName"
        return Outcome.stalled(reasons.INVALID_SPEC, msg)
    body = ctx.store.get("BatchDeployment", namespace, name)
    if body is None:
        status["phase"] = "Pending"
        return Outcome.progressing(
            reasons.WAITING_FOR_DEPLOYMENTS, f"BatchDeployment {name!r} does not exist yet"
        )
    try:
        dep = BatchDeployment.model_validate(body)
    except ValidationError as exc:
        status["phase"] = "Pending"
        return Outcome.progressing(
            reasons.WAITING_FOR_DEPLOYMENTS, f"BatchDeployment {name!r} is invalid: {validation_message(exc)}"
        )
    if dep.spec.endpoint_name != job.spec.endpoint_name:
        status["phase"] = "Failed"
        return Outcome.stalled(
            reasons.ENDPOINT_MISMATCH,
            f"BatchDeployment {name!r} belongs to endpoint {dep.spec.endpoint_name!r}",
        )
    return dep


async def _create(ctx: Context, job: BatchJob, namespace: str, status: dict[str, Any]) -> Body | Outcome:
    resolved = await _resolve(ctx, job, namespace, status)
    if isinstance(resolved, Outcome):
        return resolved
    dep = resolved
    problem = await missing_sources(ctx, dep, namespace)
    if problem is None:
        io = [i.path for i in job.spec.inputs.values()] + [job.spec.output.path if job.spec.output else None]
        for claim in _claims(*io):
            if await ctx.live(resources.PVC, namespace, claim) is None:
                problem = Outcome.stalled(
                    reasons.CLAIM_NOT_FOUND, f"PersistentVolumeClaim {claim!r} (input/output) does not exist"
                )
    if problem is None and dep.spec.instance_type and await _compute(ctx, dep) is None:
        problem = Outcome.stalled(
            reasons.UNKNOWN_INSTANCE_TYPE, f"InstanceType {dep.spec.instance_type!r} does not exist"
        )
    if problem is None:
        problem = await references.check_secrets(ctx, namespace, job_secrets(job, dep))
        if problem is not None:
            references.recheck_later(ctx, ("BatchJob", namespace, job.metadata.name or ""), problem)
    if problem is not None:
        status["phase"] = "Pending"
        return problem
    try:
        obj = render.batch_job(job, deployment=dep, compute=await _compute(ctx, dep), settings=ctx.render)
        policy = render.egress_policy(job, deployment=dep)
    except RenderError as exc:
        status["phase"] = "Failed"
        return Outcome.stalled(reasons.INVALID_SPEC, str(exc))
    if policy is not None:  # before the Job: its pods never run unrestricted
        await ctx.call(ctx.kube.apply, policy)
    created: Body = await ctx.call(ctx.kube.apply, obj)
    ctx.store.upsert("Job", created)
    await ctx.event(
        job_body(ctx, job),
        type="Normal",
        reason=reasons.JOB_CREATED,
        message=f"created Job {obj['metadata']['name']}",
    )
    return created


def job_body(ctx: Context, job: BatchJob) -> Body:
    return ctx.store.get("BatchJob", job.metadata.namespace, job.metadata.name) or {}


async def reconcile(ctx: Context, body: Body, status: dict[str, Any]) -> Outcome:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        job = BatchJob.model_validate(body)
    except ValidationError as exc:
        status["phase"] = "Failed"
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    kube_job = await ctx.live(resources.JOB, namespace, render.job_name(name))
    if kube_job is not None and (kube_job["metadata"].get("labels") or {}).get(OWNER_UID) != meta["uid"]:
        return Outcome.stalled(
            reasons.NAME_CONFLICT, f"Job {render.job_name(name)!r} exists and is not this BatchJob's"
        )
    if kube_job is None:
        if job.spec.suspend:
            status["phase"] = "Canceled"
            return Outcome.stalled(reasons.JOB_CANCELED, "suspended before it started")
        created = await _create(ctx, job, namespace, status)
        if isinstance(created, Outcome):
            return created
        kube_job = created
    elif bool((kube_job.get("spec") or {}).get("suspend")) != job.spec.suspend:
        patch = {"spec": {"suspend": job.spec.suspend}}
        kube_job = await ctx.call(
            ctx.kube.patch, resources.JOB, namespace, kube_job["metadata"]["name"], patch
        )
        ctx.store.upsert("Job", kube_job)
    return _report(ctx, job, kube_job, status)


def _report(ctx: Context, job: BatchJob, kube_job: Body, status: dict[str, Any]) -> Outcome:
    pods = ctx.store.by_label(
        "Pod", job.metadata.namespace or "", render.BATCH_JOB_LABEL, job.metadata.name or ""
    )
    seen = batchjobs.view(kube_job, pods, render.CONTAINER)
    status.update(
        {
            "phase": seen.phase,
            "jobName": kube_job["metadata"]["name"],
            "deploymentName": (kube_job["metadata"].get("labels") or {}).get(render.BATCH_DEPLOYMENT_LABEL),
            "outputUri": job.spec.output.path if job.spec.output else None,
            "progress": seen.progress or None,
            "progressText": seen.progress_text,
            "startTime": seen.start_time,
            "completionTime": seen.completion_time,
        }
    )
    if seen.phase == "Succeeded":
        return Outcome.ready(seen.message, reason=reasons.SUCCEEDED)
    if seen.phase == "Failed":
        return Outcome.stalled(reasons.JOB_FAILED, seen.message[:1024])
    if seen.phase == "Canceled":
        return Outcome.stalled(reasons.JOB_CANCELED, seen.message)
    return Outcome.progressing(
        reasons.JOB_RUNNING if seen.phase == "Running" else reasons.JOB_PENDING, seen.message
    )
