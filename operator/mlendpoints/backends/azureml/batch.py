"""Reconcile target-azureml BatchEndpoints, BatchDeployments and BatchJobs into Azure ML.

The endpoint's default deployment is sent only once that BatchDeployment is Ready (like online
traffic). A BatchJob is submitted once with ``batch_endpoints.invoke`` under a job name derived
from the BatchJob's uid, so a reconcile that runs again after a lost status write finds the job
instead of starting a second one; then ``jobs.get`` is polled until a terminal status.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import BatchDeployment, BatchEndpoint, BatchJob
from mlendpoints.backends.azureml import mapping
from mlendpoints.backends.azureml.common import (
    Azure,
    Stop,
    Verdict,
    azure_call,
    credential,
    ensure_finalizer,
    is_ready,
    last_error,
    remove_finalizer,
    state_verdict,
    workspace,
)
from mlendpoints.clients.store import Body
from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome

log = logging.getLogger(__name__)

#: Azure ML job status -> BatchJob phase (operations/_run_history_constants.py).
PHASES = {
    "NotStarted": "Pending",
    "Queued": "Pending",
    "Preparing": "Pending",
    "Provisioning": "Pending",
    "Starting": "Pending",
    "Running": "Running",
    "Finalizing": "Running",
    "CancelRequested": "Running",
    "Completed": "Succeeded",
    "Failed": "Failed",
    "Canceled": "Failed",
    "NotResponding": "Failed",
    "Paused": "Failed",
}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _op_key(body: Body) -> str:
    return f"{body['kind']}/{body['metadata']['namespace']}/{body['metadata']['name']}"


def _finalized() -> Verdict:
    return Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED))


async def reconcile_endpoint(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    try:
        ep = BatchEndpoint.model_validate(body)
    except ValidationError as exc:
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc)))
    assert ep.spec.azureml is not None
    body = await ensure_finalizer(az, body)
    ws, cred = workspace(ep.spec.azureml), await credential(az, body, ep.spec.azureml)
    client, name, namespace = az.client, ep.metadata.name, ep.metadata.namespace or ""
    remote = await azure_call(az, "reading the batch endpoint", client.get_batch_endpoint, ws, cred, name)
    wanted = ep.spec.defaults.deployment_name
    waiting = wanted is not None and not is_ready(az.ctx.store.get("BatchDeployment", namespace, wanted))
    default = (remote.default_deployment if remote else None) if waiting else wanted
    mapped = mapping.batch_endpoint(ep, default_deployment=default)
    if remote is not None:
        status.update(
            {
                "provisioningState": remote.state,
                "scoringUri": remote.scoring_uri,
                "defaultDeployment": remote.default_deployment,
            }
        )
        if remote.state in ("Creating", "Updating", "Deleting"):
            verdict = state_verdict(remote.state, None, az.settings, "batch endpoint")
            assert verdict is not None
            return verdict
    if remote is None or (body.get("status") or {}).get("appliedSpecHash") != mapped.hash:
        what = "creating the batch endpoint" if remote is None else "updating the batch endpoint"
        await azure_call(az, what, client.put_batch_endpoint, ws, cred, mapped.spec, _op_key(body))
        status.update(
            {
                "appliedSpecHash": mapped.hash,
                "provisioningState": "Creating" if remote is None else "Updating",
            }
        )
        return Verdict(Outcome.progressing(reasons.AZURE_PROVISIONING, what), az.settings.poll_interval)
    error, pending = await last_error(az, _op_key(body))
    verdict = state_verdict(remote.state, error, az.settings, "batch endpoint", pending=pending)
    if verdict is not None:
        return verdict
    if waiting:
        msg = f"default deployment {wanted!r} is not Ready yet"
        return Verdict(Outcome.progressing(reasons.WAITING_FOR_DEPLOYMENTS, msg), None)
    return Verdict(
        Outcome.ready(f"Azure ML batch endpoint at {remote.scoring_uri}"), az.settings.resync_interval
    )


async def finalize_endpoint(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    try:
        ep = BatchEndpoint.model_validate(body)
    except ValidationError:
        await remove_finalizer(az, body)
        return _finalized()
    assert ep.spec.azureml is not None
    if ep.spec.deletion_policy.value == "Orphan":
        await remove_finalizer(az, body)
        return _finalized()
    ws, cred = workspace(ep.spec.azureml), await credential(az, body, ep.spec.azureml)
    remote = await azure_call(
        az, "reading the batch endpoint", az.client.get_batch_endpoint, ws, cred, ep.metadata.name
    )
    if remote is None:
        await remove_finalizer(az, body)
        return _finalized()
    status["provisioningState"] = remote.state
    if remote.state != "Deleting":
        await azure_call(
            az,
            "deleting the batch endpoint",
            az.client.delete_batch_endpoint,
            ws,
            cred,
            ep.metadata.name,
            _op_key(body) + "/delete",
        )
    return Verdict(
        Outcome.progressing(reasons.AZURE_DELETING, "deleting the Azure ML batch endpoint"),
        az.settings.poll_interval,
    )


def _endpoint_body(az: Azure, namespace: str, name: str) -> tuple[BatchEndpoint | None, Body | None]:
    found = az.ctx.store.get("BatchEndpoint", namespace, name)
    if found is None:
        return None, None
    try:
        return BatchEndpoint.model_validate(found), found
    except ValidationError:
        return None, found


async def reconcile_deployment(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    try:
        dep = BatchDeployment.model_validate(body)
    except ValidationError as exc:
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc)))
    ep, ep_body = _endpoint_body(az, dep.metadata.namespace or "", dep.spec.endpoint_name)
    if ep is None or ep_body is None or ep.spec.azureml is None:
        return Verdict(
            Outcome.progressing(
                reasons.WAITING_FOR_ENDPOINT,
                f"BatchEndpoint {dep.spec.endpoint_name!r} is missing or invalid",
            )
        )
    body = await ensure_finalizer(az, body)
    try:
        mapped = mapping.batch_deployment(dep)
    except mapping.Unsupported as exc:
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, str(exc)))
    if (ep_body.get("status") or {}).get("provisioningState") != "Succeeded":
        msg = f"waiting for the Azure ML batch endpoint {ep.metadata.name!r} to be provisioned"
        return Verdict(Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg), az.settings.poll_interval)
    ws, cred = workspace(ep.spec.azureml), await credential(az, ep_body, ep.spec.azureml)
    client, name = az.client, dep.metadata.name
    remote = await azure_call(
        az, "reading the batch deployment", client.get_batch_deployment, ws, cred, ep.metadata.name, name
    )
    if remote is not None:
        status["provisioningState"] = remote.state
        if remote.state in ("Creating", "Updating", "Scaling", "Deleting"):
            verdict = state_verdict(remote.state, None, az.settings, "batch deployment")
            assert verdict is not None
            return verdict
    if remote is None or (body.get("status") or {}).get("appliedSpecHash") != mapped.hash:
        what = "creating the batch deployment" if remote is None else "updating the batch deployment"
        await azure_call(az, what, client.put_batch_deployment, ws, cred, mapped.spec, _op_key(body))
        status.update(
            {
                "appliedSpecHash": mapped.hash,
                "provisioningState": "Creating" if remote is None else "Updating",
            }
        )
        return Verdict(Outcome.progressing(reasons.AZURE_PROVISIONING, what), az.settings.poll_interval)
    error, pending = await last_error(az, _op_key(body))
    verdict = state_verdict(remote.state, error, az.settings, "batch deployment", pending=pending)
    if verdict is not None:
        return verdict
    notes = f"; ignored for target azureml: {', '.join(mapped.notes)}" if mapped.notes else ""
    return Verdict(
        Outcome.ready(f"Azure ML batch deployment on compute {dep.spec.compute}{notes}"),
        az.settings.resync_interval,
    )


async def finalize_deployment(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    try:
        dep = BatchDeployment.model_validate(body)
    except ValidationError:
        await remove_finalizer(az, body)
        return _finalized()
    ep, ep_body = _endpoint_body(az, dep.metadata.namespace or "", dep.spec.endpoint_name)
    if ep is None or ep_body is None or ep.spec.azureml is None or ep.spec.deletion_policy.value == "Orphan":
        await remove_finalizer(az, body)
        return _finalized()
    ws, cred = workspace(ep.spec.azureml), await credential(az, ep_body, ep.spec.azureml)
    remote = await azure_call(
        az,
        "reading the batch deployment",
        az.client.get_batch_deployment,
        ws,
        cred,
        ep.metadata.name,
        dep.metadata.name,
    )
    if remote is None:
        await remove_finalizer(az, body)
        return _finalized()
    if remote.state != "Deleting":
        await azure_call(
            az,
            "deleting the batch deployment",
            az.client.delete_batch_deployment,
            ws,
            cred,
            ep.metadata.name,
            dep.metadata.name,
            _op_key(body) + "/delete",
        )
    return Verdict(
        Outcome.progressing(reasons.AZURE_DELETING, "deleting the Azure ML batch deployment"),
        az.settings.poll_interval,
    )


def job_name(body: Body) -> str:
    """The Azure job name for a BatchJob: stable for its lifetime (derived from its uid)."""
    return "mlendpoints-" + str(body["metadata"]["uid"]).replace("-", "")[:24]


def _pending(status: dict[str, Any], phase: str, outcome: Outcome, requeue: float | None) -> Stop:
    status["phase"] = phase
    return Stop(Verdict(outcome, requeue))


async def _submit(
    az: Azure,
    body: Body,
    job: BatchJob,
    ep: BatchEndpoint,
    ep_body: Body,
    status: dict[str, Any],
    ws: Any,
    cred: Any,
) -> str:
    """Submit the job once (or find it, after a lost status write); returns the Azure job name.

    Raises Stop (phase Pending or Failed) while its endpoint or deployment is not ready, or when
    the spec cannot run on Azure ML.
    """
    namespace, poll = job.metadata.namespace or "", az.settings.poll_interval
    deployment = job.spec.deployment_name or ep.spec.defaults.deployment_name
    status["deploymentName"] = deployment
    if not deployment:
        msg = "the job names no deploymentName and the endpoint has no defaults.deploymentName"
        raise _pending(status, "Failed", Outcome.stalled(reasons.INVALID_SPEC, msg), None)
    if (ep_body.get("status") or {}).get("provisioningState") != "Succeeded":
        msg = f"waiting for BatchEndpoint {ep.metadata.name!r}"
        raise _pending(status, "Pending", Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg), poll)
    if not is_ready(az.ctx.store.get("BatchDeployment", namespace, deployment)):
        msg = f"waiting for BatchDeployment {deployment!r} to be Ready"
        raise _pending(status, "Pending", Outcome.progressing(reasons.WAITING_FOR_DEPLOYMENTS, msg), poll)
    try:
        mapped = mapping.batch_job(job, deployment)
    except mapping.Unsupported as exc:
        raise _pending(status, "Failed", Outcome.stalled(reasons.INVALID_SPEC, str(exc)), None) from exc
    mapped.spec["job_name"] = job_name(body)
    try:
        info = await azure_call(
            az, "reading the batch job", az.client.get_job, ws, cred, mapped.spec["job_name"]
        )
    except Stop as stop:
        if stop.verdict.outcome.reason != reasons.AZURE_REJECTED:  # not a 404: report it
            raise
        info = await azure_call(
            az, "invoking the batch endpoint", az.client.invoke_batch, ws, cred, mapped.spec
        )
        await az.ctx.event(
            body, type="Normal", reason="AzureJobSubmitted", message=f"Azure ML job {info.name}"
        )
    status.update(
        {
            "jobName": info.name,
            "startTime": _now(),
            "outputUri": job.spec.output.path if job.spec.output else None,
        }
    )
    return str(info.name)


async def reconcile_job(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    """Submit once, then follow the Azure job until Completed/Failed/Canceled."""
    try:
        job = BatchJob.model_validate(body)
    except ValidationError as exc:
        status["phase"] = "Failed"
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc)))
    ep, ep_body = _endpoint_body(az, job.metadata.namespace or "", job.spec.endpoint_name)
    if ep is None or ep_body is None or ep.spec.azureml is None:
        msg = f"BatchEndpoint {job.spec.endpoint_name!r} is missing or invalid"
        raise _pending(
            status,
            "Pending",
            Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg),
            az.settings.poll_interval,
        )
    ws, cred = workspace(ep.spec.azureml), await credential(az, ep_body, ep.spec.azureml)
    previous = body.get("status") or {}
    name = previous.get("jobName") or await _submit(az, body, job, ep, ep_body, status, ws, cred)
    info = await azure_call(az, "reading the batch job", az.client.get_job, ws, cred, name)
    phase = PHASES.get(info.status, "Running")
    status.update({"phase": phase, "studioUrl": info.studio_url})
    if info.outputs and not (status.get("outputUri") or previous.get("outputUri")):
        status["outputUri"] = next(iter(info.outputs.values()))
    if phase == "Succeeded":
        status["completionTime"] = previous.get("completionTime") or _now()
        return Verdict(Outcome.ready(f"Azure ML job {name} completed", reason=reasons.SUCCEEDED))
    if phase == "Failed":
        status["completionTime"] = previous.get("completionTime") or _now()
        # The ARM job resource carries no error details; they are in the job's logs in the studio.
        msg = (
            f"Azure ML job {name} ended {info.status}; logs and error: {info.studio_url or 'Azure ML studio'}"
        )
        return Verdict(Outcome.stalled(reasons.AZURE_JOB_FAILED, msg))
    return Verdict(
        Outcome.progressing(reasons.AZURE_PROVISIONING, f"Azure ML job {name} is {info.status}"),
        az.settings.poll_interval,
    )
