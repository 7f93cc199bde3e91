"""Reconcile one OnlineDeployment into a Deployment, Service, HPA and PDB, and report its status."""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import InstanceType, OnlineDeployment, OnlineEndpoint
from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec, resolve_name
from mlendpoints.api.v1alpha1.online import OnlineDeploymentStatus
from mlendpoints.backends.kubernetes import outcome, references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import NameConflict, converge
from mlendpoints.clients import resources, store
from mlendpoints.clients.store import Body
from mlendpoints.render import codehash, names
from mlendpoints.render import env as render_env
from mlendpoints.render import labels as child_labels
from mlendpoints.render import meta as render_meta
from mlendpoints.render import online as render_online
from mlendpoints.render.errors import RenderError
from mlendpoints.status import reasons, workloads
from mlendpoints.status.conditions import Outcome

log = logging.getLogger(__name__)

CHILD_KINDS = (
    resources.DEPLOYMENT,
    resources.SERVICE,
    resources.HPA,
    resources.PDB,
    resources.NETWORK_POLICY,
)


async def _adopt(ctx: Context, body: Body, endpoint: Body) -> None:
    """Make the endpoint the deployment's owner, so deleting the endpoint deletes it (once)."""
    refs = list(body["metadata"].get("ownerReferences") or [])
    uid = endpoint["metadata"]["uid"]
    if any(r.get("uid") == uid for r in refs):
        return
    owner = render_meta.controller_reference(
        api_version=endpoint["apiVersion"], kind=endpoint["kind"], name=endpoint["metadata"]["name"], uid=uid
    )
    refs = [r for r in refs if not r.get("controller")] + [owner]
    meta = body["metadata"]
    patch = {"metadata": {"ownerReferences": refs, "resourceVersion": meta.get("resourceVersion")}}
    updated = await ctx.call(
        ctx.kube.patch, resources.ONLINE_DEPLOYMENT, meta["namespace"], meta["name"], patch
    )
    ctx.store.upsert("OnlineDeployment", updated)


def _profile(body: Body) -> tuple[InstanceTypeSpec | None, Outcome | None]:
    try:
        return InstanceType.model_validate(body).spec, None
    except ValidationError as exc:
        name = body["metadata"]["name"]
        return None, Outcome.stalled(
            reasons.INVALID_SPEC, f"InstanceType {name!r} is invalid: {validation_message(exc)}"
        )


async def _compute(ctx: Context, dep: OnlineDeployment) -> tuple[InstanceTypeSpec | None, Outcome | None]:
    name = resolve_name(dep.spec.instance_type, dep.spec.resources)
    body = None
    if dep.spec.instance_type:  # a named one: a cache miss is confirmed by a GET before it stalls
        body = await ctx.live(resources.INSTANCE_TYPE, None, dep.spec.instance_type)
    elif name:  # the optional default: cached (InstanceType is watched; its arrival wakes its users)
        body = ctx.store.get("InstanceType", None, name)
    if body is not None:
        return _profile(body)
    if dep.spec.instance_type:  # a named one must exist; defaultinstancetype need not
        return None, Outcome.stalled(reasons.UNKNOWN_INSTANCE_TYPE, f"InstanceType {name!r} does not exist")
    return None, None


async def _code_hash(
    ctx: Context, dep: OnlineDeployment, namespace: str
) -> tuple[str | None, Outcome | None]:
    code = dep.spec.code_configuration
    if code is None or code.config_map is None:
        return None, None
    cm = await ctx.live(resources.CONFIGMAP, namespace, code.config_map.name)
    if cm is None:
        return None, Outcome.retrying(
            "CodeNotFound", f"ConfigMap {code.config_map.name!r} with the scoring code does not exist"
        )
    if code.scoring_script not in (cm.get("data") or {}) and code.scoring_script not in (
        cm.get("binaryData") or {}
    ):
        return None, Outcome.stalled(
            reasons.INVALID_SPEC, f"ConfigMap {code.config_map.name!r} has no key {code.scoring_script!r}"
        )
    return codehash.config_map_hash(cm.get("data"), cm.get("binaryData")), None


HANDOVER_MANAGER = "mlendpoints-replicas-handover"


def _owns_replicas(deployment: Body, manager: str) -> bool:
    for entry in deployment["metadata"].get("managedFields") or []:
        spec_fields = store.fields_v1(entry).get("f:spec") or {}
        if (
            entry.get("manager") == manager
            and entry.get("operation") == "Apply"
            and "f:replicas" in spec_fields
        ):
            return True
    return False


async def _hand_over_replicas(ctx: Context, desired: list[Body], namespace: str) -> None:
    """Before dropping ``spec.replicas`` (the HPA takes over), let another manager hold it.

    Server-side apply removes a field its manager stops applying when nobody else owns it, and
    the Deployment would fall back to 1 replica until the HPA reacts: an outage for a loaded
    service. Applying the current count once under a separate manager keeps it in place.
    """
    for obj in desired:
        if obj["kind"] != "Deployment" or "replicas" in obj["spec"]:
            continue
        live = await ctx.live(resources.DEPLOYMENT, namespace, obj["metadata"]["name"])
        if live is None or not _owns_replicas(live, ctx.kube.field_manager):
            continue
        handover = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": obj["metadata"]["name"], "namespace": namespace},
            "spec": {"replicas": live["spec"].get("replicas", 1)},
        }
        await ctx.call(ctx.kube.apply, handover, field_manager=HANDOVER_MANAGER)
        # Apply now even if nothing else differs, so our manager actually lets go of replicas.
        ctx.store.upsert("Deployment", await ctx.call(ctx.kube.apply, obj))


async def _references(ctx: Context, dep: OnlineDeployment, endpoint: Body, uid: str) -> Outcome | None:
    """Secrets the pods would use: opted in by label, and the endpoint's own keys (see references)."""
    namespace, name = endpoint["metadata"]["namespace"], dep.metadata.name or ""
    refs = []
    if dep.spec.model is not None and dep.spec.model.credentials_secret_ref is not None:
        refs.append(("spec.model.credentialsSecretRef", dep.spec.model.credentials_secret_ref.name))
    problem = await references.check_secrets(ctx, namespace, refs)
    if problem is None and (endpoint.get("spec") or {}).get("authMode", "key") == "key":
        keys = names.keys_secret(endpoint["metadata"]["name"])
        problem = await references.check_keys_secret(ctx, namespace, keys, endpoint)
        if problem is not None and problem.reason == reasons.NAME_CONFLICT:
            # fail closed: no pod of ours may keep mounting a Secret that is not the endpoint's
            await converge(ctx, [], owner_uid=uid, namespace=namespace, prunable=(resources.DEPLOYMENT,))
    if problem is not None:
        references.recheck_later(ctx, ("OnlineDeployment", namespace, name), problem)
    return problem


async def reconcile(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "OnlineDeployment", namespace, name, _reconcile, events=True)


async def _reconcile(ctx: Context, body: Body, status: OnlineDeploymentStatus) -> Outcome:
    meta = body["metadata"]
    try:
        dep = OnlineDeployment.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    key = ("OnlineDeployment", meta["namespace"], meta["name"])
    full, epoch = ctx.full_needed(key)
    light = None if full else _light(ctx, dep, body, status)
    if light is not None:
        return light
    endpoint_body = await ctx.live(resources.ONLINE_ENDPOINT, meta["namespace"], dep.spec.endpoint_name)
    if endpoint_body is None:
        return Outcome.progressing(
            reasons.WAITING_FOR_ENDPOINT, f"OnlineEndpoint {dep.spec.endpoint_name!r} does not exist yet"
        )
    # The ownerReference patch does not feed the rest: it runs alongside (one round trip saved).
    adopt = asyncio.create_task(_adopt(ctx, body, endpoint_body))
    try:
        verdict, converged = await _apply(ctx, dep, endpoint_body, status, uid=meta["uid"])
    finally:
        await adopt
    if converged:
        ctx.mark_clean(key, epoch)
    return verdict


def _light(ctx: Context, dep: OnlineDeployment, body: Body, status: OnlineDeploymentStatus) -> Outcome | None:
    """The rollout read from the cached Deployment, when only statuses changed since the last
    full reconcile (``Context.full_needed``); None when that Deployment is not in the cache as
    ours (then the full reconcile runs)."""
    meta = body["metadata"]
    name = names.deployment_object(dep.spec.endpoint_name, meta["name"])
    deployment = ctx.store.get("Deployment", meta["namespace"], name)
    owner = ((deployment or {}).get("metadata", {}).get("labels") or {}).get(child_labels.OWNER_UID)
    if deployment is None or owner != meta["uid"]:
        return None
    live = {("Deployment", name): deployment}
    return _rollout_outcome(ctx, dep, live=live, status=status, namespace=meta["namespace"])


async def _inputs(
    ctx: Context, dep: OnlineDeployment, endpoint_body: Body, uid: str
) -> tuple[InstanceTypeSpec | None, str | None, Outcome | None]:
    """The compute profile and code hash, after the referenced Secrets are checked: read at once."""
    namespace = endpoint_body["metadata"]["namespace"]
    problem, (compute, no_compute), (code_hash, no_code) = await asyncio.gather(
        _references(ctx, dep, endpoint_body, uid), _compute(ctx, dep), _code_hash(ctx, dep, namespace)
    )
    return compute, code_hash, problem or no_compute or no_code


async def _apply(
    ctx: Context, dep: OnlineDeployment, endpoint_body: Body, status: OnlineDeploymentStatus, *, uid: str
) -> tuple[Outcome, bool]:
    """Render the deployment's children from its endpoint and inputs, converge them, read the rollout;
    and whether the children converged."""
    namespace = endpoint_body["metadata"]["namespace"]
    try:
        endpoint = OnlineEndpoint.model_validate(endpoint_body)
    except ValidationError:
        return Outcome.progressing(
            reasons.WAITING_FOR_ENDPOINT, f"OnlineEndpoint {dep.spec.endpoint_name!r} is invalid"
        ), False
    wrong = outcome.check_target("OnlineEndpoint", dep.spec.endpoint_name, endpoint.spec.target)
    if wrong is not None:
        return wrong, False
    compute, code_hash, problem = await _inputs(ctx, dep, endpoint_body, uid)
    if problem is not None:
        return problem, False
    try:
        desired = render_online.deployment_children(
            dep, endpoint=endpoint, compute=compute, code_hash=code_hash, settings=ctx.render
        )
    except RenderError as exc:
        return Outcome.stalled(reasons.INVALID_MODEL, str(exc)), False
    await _hand_over_replicas(ctx, desired, namespace)
    try:
        live = await converge(ctx, desired, owner_uid=uid, namespace=namespace, prunable=CHILD_KINDS)
    except NameConflict as exc:
        return Outcome.stalled(reasons.NAME_CONFLICT, str(exc)), False
    return _rollout_outcome(ctx, dep, live=live, status=status, namespace=namespace), True


def _rollout_outcome(
    ctx: Context,
    dep: OnlineDeployment,
    *,
    live: dict[tuple[str, str], Body],
    status: OnlineDeploymentStatus,
    namespace: str,
) -> Outcome:
    """Copy the child Deployment's rollout into ``status`` (replica counts, scale selector) and
    say whether it is Ready, still rolling out, or stalled (from its pods' states)."""
    deployment = next((obj for (kind, _), obj in live.items() if kind == "Deployment"), None)
    autoscaled = dep.spec.scale_settings.type == "targetUtilization"
    want = None if autoscaled else dep.spec.instance_count
    if autoscaled and deployment is not None:
        want = int((deployment.get("spec") or {}).get("replicas", dep.spec.scale_settings.min_instances))
    roll = workloads.rollout(deployment, desired=want)
    selector = None
    if deployment is not None:
        labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    status.replicas = roll.replicas
    status.ready_replicas = roll.ready
    status.updated_replicas = roll.updated
    status.available_replicas = roll.available
    status.selector = selector
    if roll.done:
        return Outcome.ready(f"{roll.ready}/{roll.desired} replicas ready" + _settings_note(dep))
    pods = []
    if selector:
        pods = ctx.store.by_label("Pod", namespace, "mlendpoints.io/deployment", dep.metadata.name)
    stall = workloads.stalled_reason(deployment, pods)
    if stall is not None:
        return Outcome.stalled(stall.reason, stall.message)
    return Outcome.progressing(reasons.ROLLING_OUT, roll.message)


def _settings_note(dep: OnlineDeployment) -> str:
    """Azure server settings in environmentVariables that have no effect, for the condition message."""
    ignored = render_env.ignored_server_settings(dep)
    return f"; ignored Azure ML server settings: {', '.join(ignored)}" if ignored else ""
