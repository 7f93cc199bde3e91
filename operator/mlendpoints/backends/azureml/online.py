"""Reconcile target-azureml OnlineEndpoints and OnlineDeployments into Azure ML online endpoints.

Order (guide §10.10): the endpoint is created first with the traffic Azure already has (none at
creation); deployments follow once it has Succeeded; spec.traffic and spec.mirrorTraffic are sent
by an endpoint update only when every deployment they name is Ready (its Azure deployment
Succeeded). A PUT happens only when the hash of the mapped spec differs from
``status.appliedSpecHash`` or the Azure resource is missing, so an unchanged resource causes no
writes, also across operator restarts.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import OnlineDeployment, OnlineEndpoint
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
from mlendpoints.backends.kubernetes.converge import NameConflict, converge, prune_by_name
from mlendpoints.backends.kubernetes.deployment import _adopt as adopt
from mlendpoints.backends.kubernetes.keys import HANDLED_ANNOTATION, REGENERATE_ANNOTATION
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.render import names, secret
from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome

log = logging.getLogger(__name__)


def _notes(notes: list[str]) -> str:
    return f"; ignored for target azureml: {', '.join(notes)}" if notes else ""


def _op_key(body: Body) -> str:
    return f"{body['kind']}/{body['metadata']['namespace']}/{body['metadata']['name']}"


def _gated(
    ep: OnlineEndpoint, az: Azure, remote_traffic: dict[str, int], remote_mirror: dict[str, int]
) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Traffic to send now: spec's once every named deployment is Ready, else what Azure has."""
    namespace = ep.metadata.namespace or ""
    named = sorted({k for k, v in {**ep.spec.traffic, **ep.spec.mirror_traffic}.items() if v > 0})
    waiting = [d for d in named if not is_ready(az.ctx.store.get("OnlineDeployment", namespace, d))]
    if waiting:
        return dict(remote_traffic), dict(remote_mirror), waiting
    return dict(ep.spec.traffic), dict(ep.spec.mirror_traffic), []


async def reconcile_endpoint(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    try:
        ep = OnlineEndpoint.model_validate(body)
    except ValidationError as exc:
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc)))
    assert ep.spec.azureml is not None
    body = await ensure_finalizer(az, body)
    ws, cred = workspace(ep.spec.azureml), await credential(az, body, ep.spec.azureml)
    client, name = az.client, ep.metadata.name
    remote = await azure_call(az, "reading the online endpoint", client.get_online_endpoint, ws, cred, name)
    traffic, mirror, waiting = _gated(
        ep, az, remote.traffic if remote else {}, remote.mirror_traffic if remote else {}
    )
    try:
        mapped = mapping.online_endpoint(ep, traffic=traffic, mirror=mirror)
    except mapping.Unsupported as exc:
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, str(exc)))
    applied = (body.get("status") or {}).get("appliedSpecHash")
    if remote is not None:
        status.update(
            {
                "provisioningState": remote.state,
                "azureResourceId": remote.id,
                "scoringUri": remote.scoring_uri,
                "swaggerUri": remote.swagger_uri,
                "traffic": remote.traffic,
                "mirrorTraffic": remote.mirror_traffic,
                "trafficSummary": ",".join(f"{k}={v}" for k, v in sorted(remote.traffic.items())) or "none",
            }
        )
    if remote is not None and remote.state in ("Creating", "Updating", "Deleting"):
        verdict = state_verdict(remote.state, None, az.settings, "endpoint")
        assert verdict is not None
        return verdict
    if remote is None or applied != mapped.hash:
        what = "creating the online endpoint" if remote is None else "updating the online endpoint"
        await azure_call(az, what, client.put_online_endpoint, ws, cred, mapped.spec, _op_key(body))
        status.update(
            {
                "appliedSpecHash": mapped.hash,
                "provisioningState": "Creating" if remote is None else "Updating",
            }
        )
        msg = f"{what} in workspace {ws.workspace_name}"
        return Verdict(Outcome.progressing(reasons.AZURE_PROVISIONING, msg), az.settings.poll_interval)
    error, pending = await last_error(az, _op_key(body))
    verdict = state_verdict(remote.state, error, az.settings, "endpoint", pending=pending)
    if verdict is not None:
        return verdict
    problem = await _keys(az, ep, body, status, ws, cred)
    if problem is not None:
        return problem
    if waiting:
        msg = f"spec.traffic waits for deployment(s) {', '.join(waiting)} to be Ready; Azure keeps {status['trafficSummary']}"
        return Verdict(Outcome.progressing(reasons.WAITING_FOR_DEPLOYMENTS, msg), None)
    msg = f"serving {status['trafficSummary']} at {remote.scoring_uri}{_notes(mapped.notes)}"
    return Verdict(Outcome.ready(msg), az.settings.resync_interval)


async def _keys(
    az: Azure, ep: OnlineEndpoint, body: Body, status: dict[str, Any], ws: Any, cred: Any
) -> Verdict | None:
    """authMode key: regenerate on request, then keep the keys Secret equal to Azure's keys."""
    namespace, name = ep.metadata.namespace or "", ep.metadata.name
    desired: list[Body] = []
    if ep.spec.auth_mode.value == "key":
        live = await az.ctx.call(az.ctx.kube.get, resources.SECRET, namespace, names.keys_secret(name))
        handled = ((live or {}).get("metadata", {}).get("annotations") or {}).get(HANDLED_ANNOTATION, "")
        request = ep.metadata.annotations.get(REGENERATE_ANNOTATION, "")
        annotations = {HANDLED_ANNOTATION: handled} if handled else {}
        if request and request != handled:
            which = request.split("@", 1)[0].strip().lower()
            kinds = {
                "primary": ["primary"],
                "secondary": ["secondary"],
                "both": ["primary", "secondary"],
            }.get(which)
            if kinds is None:
                msg = f"{REGENERATE_ANNOTATION} must be primary, secondary or both (optionally @suffix), got {request!r}"
                await az.ctx.event(body, type="Warning", reason="InvalidAnnotation", message=msg)
            for kind in kinds or []:
                await azure_call(
                    az, f"regenerating the {kind} key", az.client.regenerate_key, ws, cred, name, kind
                )
            if kinds:
                await az.ctx.event(
                    body,
                    type="Normal",
                    reason="KeysRegenerated",
                    message=f"regenerated {which} key(s) in Azure ML",
                )
            annotations = {HANDLED_ANNOTATION: request}
        keys = await azure_call(az, "reading the endpoint keys", az.client.get_keys, ws, cred, name)
        obj = secret.build(ep, keys=keys)
        if annotations:
            obj["metadata"].setdefault("annotations", {}).update(annotations)
        desired.append(obj)
    try:
        await converge(az.ctx, desired, owner_uid=ep.metadata.uid or "", namespace=namespace, prunable=[])
        if not desired:  # no keys mirrored: a Secret left from before goes (Secrets are never cached)
            secret_name = names.keys_secret(name)
            await prune_by_name(
                az.ctx, resources.SECRET, namespace, secret_name, owner_uid=ep.metadata.uid or ""
            )
    except NameConflict as exc:
        return Verdict(Outcome.stalled(reasons.NAME_CONFLICT, str(exc)))
    status["keysSecretName"] = names.keys_secret(name) if desired else None
    return None


async def finalize_endpoint(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    """deletionPolicy Delete: delete the Azure endpoint (Azure deletes its deployments with it); Orphan: leave it."""
    try:
        ep = OnlineEndpoint.model_validate(body)
    except ValidationError:
        await remove_finalizer(az, body)
        return Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED))
    assert ep.spec.azureml is not None
    if ep.spec.deletion_policy.value == "Orphan":
        await remove_finalizer(az, body)
        return Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED))
    ws, cred = workspace(ep.spec.azureml), await credential(az, body, ep.spec.azureml)
    client = az.client
    remote = await azure_call(
        az, "reading the online endpoint", client.get_online_endpoint, ws, cred, ep.metadata.name
    )
    if remote is None:
        await remove_finalizer(az, body)
        return Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED))
    status["provisioningState"] = remote.state
    if remote.state != "Deleting":
        await azure_call(
            az,
            "deleting the online endpoint",
            client.delete_online_endpoint,
            ws,
            cred,
            ep.metadata.name,
            _op_key(body) + "/delete",
        )
    error = await az.ctx.call(client.operation_error, _op_key(body) + "/delete")
    if error:
        return Verdict(
            Outcome.stalled(reasons.AZURE_REJECTED, f"deleting the Azure ML endpoint failed: {error}"),
            az.settings.poll_interval,
        )
    return Verdict(
        Outcome.progressing(reasons.AZURE_DELETING, "deleting the Azure ML endpoint"),
        az.settings.poll_interval,
    )


async def _endpoint_of(az: Azure, dep: OnlineDeployment) -> OnlineEndpoint | None:
    found = az.ctx.store.get("OnlineEndpoint", dep.metadata.namespace, dep.spec.endpoint_name)
    if found is None:
        return None
    try:
        return OnlineEndpoint.model_validate(found)
    except ValidationError:
        return None


async def reconcile_deployment(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    try:
        dep = OnlineDeployment.model_validate(body)
    except ValidationError as exc:
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc)))
    ep = await _endpoint_of(az, dep)
    if ep is None or ep.spec.azureml is None:
        return Verdict(
            Outcome.progressing(
                reasons.WAITING_FOR_ENDPOINT,
                f"OnlineEndpoint {dep.spec.endpoint_name!r} is missing or invalid",
            )
        )
    body = await ensure_finalizer(az, body)
    endpoint_body = az.ctx.store.get("OnlineEndpoint", dep.metadata.namespace, dep.spec.endpoint_name)
    assert endpoint_body is not None
    await adopt(az.ctx, body, endpoint_body)
    try:
        mapped = mapping.online_deployment(dep, ep)
    except mapping.Unsupported as exc:
        return Verdict(Outcome.stalled(reasons.INVALID_SPEC, str(exc)))
    if (endpoint_body.get("status") or {}).get("provisioningState") != "Succeeded":
        msg = f"waiting for the Azure ML endpoint {ep.metadata.name!r} to be provisioned"
        return Verdict(Outcome.progressing(reasons.WAITING_FOR_ENDPOINT, msg), az.settings.poll_interval)
    ws, cred = workspace(ep.spec.azureml), await credential(az, endpoint_body, ep.spec.azureml)
    client, name = az.client, dep.metadata.name
    remote = await azure_call(
        az, "reading the online deployment", client.get_online_deployment, ws, cred, ep.metadata.name, name
    )
    applied = (body.get("status") or {}).get("appliedSpecHash")
    if remote is not None:
        status.update({"provisioningState": remote.state})
        if remote.state in ("Creating", "Updating", "Scaling", "Deleting"):
            verdict = state_verdict(remote.state, None, az.settings, "deployment")
            assert verdict is not None
            return verdict
    if remote is None or applied != mapped.hash:
        what = "creating the online deployment" if remote is None else "updating the online deployment"
        await azure_call(az, what, client.put_online_deployment, ws, cred, mapped.spec, _op_key(body))
        status.update(
            {
                "appliedSpecHash": mapped.hash,
                "provisioningState": "Creating" if remote is None else "Updating",
            }
        )
        return Verdict(Outcome.progressing(reasons.AZURE_PROVISIONING, what), az.settings.poll_interval)
    error, pending = await last_error(az, _op_key(body))
    verdict = state_verdict(remote.state, error, az.settings, "deployment", pending=pending)
    if verdict is not None:
        return verdict
    count = dep.spec.instance_count
    status.update({"replicas": count, "readyReplicas": count, "updatedReplicas": count})
    msg = f"Azure ML deployment provisioned ({dep.spec.instance_type} x{count}){_notes(mapped.notes)}"
    return Verdict(Outcome.ready(msg), az.settings.resync_interval)


async def finalize_deployment(az: Azure, body: Body, status: dict[str, Any]) -> Verdict:
    """Follows the endpoint's deletionPolicy; with the endpoint CR gone, its finalizer did the work."""
    try:
        dep = OnlineDeployment.model_validate(body)
    except ValidationError:
        await remove_finalizer(az, body)
        return Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED))
    ep = await _endpoint_of(az, dep)
    endpoint_body = az.ctx.store.get("OnlineEndpoint", dep.metadata.namespace, dep.spec.endpoint_name)
    if (
        ep is None
        or ep.spec.azureml is None
        or endpoint_body is None
        or ep.spec.deletion_policy.value == "Orphan"
    ):
        await remove_finalizer(az, body)
        return Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED))
    ws, cred = workspace(ep.spec.azureml), await credential(az, endpoint_body, ep.spec.azureml)
    client, name = az.client, dep.metadata.name
    remote = await azure_call(
        az, "reading the online deployment", client.get_online_deployment, ws, cred, ep.metadata.name, name
    )
    if remote is None:
        await remove_finalizer(az, body)
        return Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED))
    status["provisioningState"] = remote.state
    if remote.state != "Deleting":
        try:
            await azure_call(
                az,
                "deleting the online deployment",
                client.delete_online_deployment,
                ws,
                cred,
                ep.metadata.name,
                name,
                _op_key(body) + "/delete",
            )
        except Stop as stop:
            if stop.verdict.outcome.reason == reasons.AZURE_REJECTED:
                msg = stop.verdict.outcome.message + " (remove it from the endpoint's spec.traffic first)"
                return Verdict(Outcome.stalled(reasons.AZURE_REJECTED, msg), az.settings.poll_interval * 3)
            raise
    return Verdict(
        Outcome.progressing(reasons.AZURE_DELETING, "deleting the Azure ML deployment"),
        az.settings.poll_interval,
    )
