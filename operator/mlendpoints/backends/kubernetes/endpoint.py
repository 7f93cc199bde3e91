"""Reconcile one OnlineEndpoint: keys Secret, stable Service, traffic-weighted route, status.

Traffic follows availability: a deployment keeps its desired weight while its Deployment has at
least one available pod, whatever its rollout or Stalled state; only a deployment with no
available pod loses its weight (to the others, see ``render/traffic.py``). Problems are reported
in conditions, never by moving traffic: a deployment rolling out (Reconciling), Stalled, deleted
while it had traffic, or named in traffic but not existing (Reconciling, then Stalled after the
grace period); a Gateway that is missing or not Programmed, or an HTTPRoute its Gateway has not
accepted; an Ingress no controller has admitted. The endpoint is Ready only when none applies
(docs/online-endpoints.md, "What Ready means").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.api.v1alpha1.online import DeploymentSummary, OnlineEndpointStatus
from mlendpoints.backends.kubernetes import gatewayprobe, outcome, references, routecheck
from mlendpoints.backends.kubernetes import keys as keys_
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import NameConflict, converge, prune_by_name
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.render import labels, names
from mlendpoints.render import online as render_online
from mlendpoints.render import routing as routing_
from mlendpoints.status import conditions, dependencies, reasons
from mlendpoints.status.conditions import Outcome
from mlendpoints.status.dependencies import Problem

log = logging.getLogger(__name__)

#: Children pruned through the cache; the keys Secret (never cached) is pruned by name.
CHILD_KINDS = (resources.SERVICE, resources.HTTPROUTE, resources.INGRESS)


async def reconcile(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "OnlineEndpoint", namespace, name, _reconcile, events=True)


def _wake_deployments(ctx: Context, namespace: str, name: str) -> None:
    """Reconcile the endpoint's deployments now: their pods mount the keys Secret just created.

    Secrets are not watched, so a deployment waiting for it would otherwise look again only
    after ``references.WAIT_S``.
    """
    for dep in ctx.store.by_label("OnlineDeployment", namespace, labels.ENDPOINT, name):
        ctx.enqueue(("OnlineDeployment", namespace, dep["metadata"]["name"]))


def gateway_users(ctx: Context, namespace: str, name: str) -> list[tuple[str, str]]:
    """(namespace, name) of the OnlineEndpoints whose HTTPRoutes attach to Gateway ``namespace/name``."""
    out = []
    for ep in ctx.store.all("OnlineEndpoint"):
        ep_ns = ep["metadata"]["namespace"]
        routing = (ep.get("spec") or {}).get("routing") or {}
        refs = [(r.get("namespace") or ep_ns, r.get("name")) for r in routing.get("parentRefs") or []]
        if not refs and ctx.render.default_gateway:
            gw_ns, _, gw_name = ctx.render.default_gateway.rpartition("/")
            refs = [(gw_ns or ep_ns, gw_name)]
        if (namespace, name) in refs:
            out.append((ep_ns, ep["metadata"]["name"]))
    return out


def _available(ctx: Context, dep: Body, namespace: str, endpoint: str) -> int:
    """``status.availableReplicas`` of the deployment's own apps/v1 Deployment (0 if none yet)."""
    name = names.deployment_object(endpoint, dep["metadata"]["name"])
    deployment = ctx.store.get("Deployment", namespace, name)
    if deployment is None:
        return 0
    if (deployment["metadata"].get("labels") or {}).get(labels.OWNER_UID) != dep["metadata"].get("uid"):
        return 0  # someone else's object with that name (the deployment reports NameConflict)
    return int((deployment.get("status") or {}).get("availableReplicas") or 0)


def _scoring_path(dep: Body) -> str:
    """``environment.inferenceConfig.scoringRoute.path`` of a custom container, else ``/score``."""
    environment = (dep.get("spec") or {}).get("environment") or {}
    route = (environment.get("inferenceConfig") or {}).get("scoringRoute") or {}
    return str(route.get("path") or routing_.RUNTIME_SCORING_PATH)


def _states(ctx: Context, namespace: str, endpoint: str) -> list[render_online.DeploymentState]:
    out = []
    for dep in ctx.store.by_label("OnlineDeployment", namespace, "mlendpoints.io/endpoint", endpoint):
        st = dep.get("status") or {}
        ready = conditions.is_true(st.get("conditions"), conditions.READY) and st.get(
            "observedGeneration"
        ) == dep["metadata"].get("generation")
        out.append(
            render_online.DeploymentState(
                name=dep["metadata"]["name"],
                ready=ready,
                exists=True,
                deleting=bool(dep["metadata"].get("deletionTimestamp")),
                available=_available(ctx, dep, namespace, endpoint),
                scoring_path=_scoring_path(dep),
            )
        )
    return out


def _summaries(
    ctx: Context,
    namespace: str,
    endpoint: OnlineEndpoint,
    states: list[render_online.DeploymentState],
    rendered: render_online.EndpointRender,
) -> list[DeploymentSummary]:
    existing = {s.name for s in states if not s.deleting}
    desired = dict(endpoint.spec.traffic)
    out = []
    for dep_name in sorted(existing | set(desired) | set(endpoint.spec.mirror_traffic)):
        state = next((s for s in states if s.name == dep_name), None)
        # only this endpoint's deployments: one of that name may belong to another endpoint
        dep = ctx.store.get("OnlineDeployment", namespace, dep_name) if state else None
        dst = (dep or {}).get("status") or {}
        out.append(
            DeploymentSummary(
                name=dep_name,
                ready=bool(state and state.ready),
                desired_traffic=desired.get(dep_name, 0),
                effective_traffic=rendered.effective_traffic.get(dep_name, 0),
                mirror_traffic=rendered.effective_mirror.get(dep_name, 0),
                replicas=int(dst.get("replicas", 0)),
                ready_replicas=int(dst.get("readyReplicas", 0)),
                available_replicas=state.available_pods if state else 0,
            )
        )
    return out


def _lost(ctx: Context, body: Body, endpoint: OnlineEndpoint, existing: set[str]) -> list[str]:
    """Deployments with traffic that existed once (this process saw them, or the last status
    showed them serving) and are gone: deleted while they had traffic."""
    meta = body["metadata"]
    seen = ctx.seen_deployments.setdefault((meta["namespace"], meta["name"]), set())
    seen |= existing
    seen |= {
        d["name"]
        for d in (body.get("status") or {}).get("deployments") or []
        if d.get("ready") or d.get("readyReplicas")
    }
    return sorted(d for d, w in endpoint.spec.traffic.items() if w > 0 and d in seen and d not in existing)


def _deployment_problems(
    ctx: Context,
    body: Body,
    endpoint: OnlineEndpoint,
    states: list[render_online.DeploymentState],
) -> list[Problem]:
    """One Problem per deployment with (mirror) traffic that is not Ready, missing or deleted."""
    namespace = body["metadata"]["namespace"]
    by_name = {s.name: s for s in states if not s.deleting}
    lost = _lost(ctx, body, endpoint, set(by_name))
    out: list[Problem] = []
    if lost:
        out.append(
            Problem(
                reasons.DELETING_WITH_TRAFFIC,
                f"deployment(s) {', '.join(lost)} were deleted while spec.traffic still gives them traffic; "
                "their share goes to the remaining deployments. Remove them from spec.traffic.",
                permanent=True,
            )
        )
    wanted = {k: w for k, w in endpoint.spec.traffic.items() if w > 0}
    mirrored = {k: w for k, w in endpoint.spec.mirror_traffic.items() if w > 0}
    for dep_name in sorted(set(wanted) | set(mirrored)):
        field = "spec.traffic" if dep_name in wanted else "spec.mirrorTraffic"
        share = f"{wanted.get(dep_name) or mirrored.get(dep_name)}%"
        state = by_name.get(dep_name)
        if state is None:
            if dep_name not in lost:
                out.append(
                    Problem(reasons.DEPLOYMENT_NOT_FOUND, _not_found(ctx, namespace, dep_name, field, share))
                )
            continue
        if not state.ready:
            out.append(_not_ready(ctx, namespace, state, share))
    return out


def _not_found(ctx: Context, namespace: str, dep_name: str, field: str, share: str) -> str:
    """Why a deployment named in ``field`` is not this endpoint's: missing, or another endpoint's."""
    owner = ((ctx.store.get("OnlineDeployment", namespace, dep_name) or {}).get("spec") or {}).get(
        "endpointName"
    )
    what = f"belongs to endpoint {owner}" if owner else "does not exist"
    fix = "deployment names are unique in a namespace: name yours otherwise" if owner else "create it"
    return f"OnlineDeployment {dep_name} {what} ({field} gives it {share}); {fix} or remove it from {field}"


def _not_ready(ctx: Context, namespace: str, state: render_online.DeploymentState, share: str) -> Problem:
    """A deployment with traffic that is not Ready: Stalled (its own Stalled condition) or rolling out;
    the message says whether it keeps its share (available pods) or not."""
    pods = state.available_pods
    serving = (
        f"its {pods} available pod(s) keep its {share}"
        if pods
        else f"it has no available pod, so its {share} goes to the others"
    )
    dep_body = ctx.store.get("OnlineDeployment", namespace, state.name)
    stalled = conditions.get_condition(
        ((dep_body or {}).get("status") or {}).get("conditions"), conditions.STALLED
    )
    if stalled is not None and stalled.get("status") == "True":
        detail = stalled.get("message") or stalled.get("reason")
        return Problem(
            reasons.DEPLOYMENT_STALLED,
            f"deployment {state.name} is stalled: {detail}; {serving}",
            permanent=True,
        )
    return Problem(reasons.WAITING_FOR_DEPLOYMENTS, f"deployment {state.name} is not Ready yet; {serving}")


def _waited(ctx: Context, namespace: str, name: str, problems: list[Problem]) -> dict[str, float]:
    """Seconds each graced problem has lasted; schedules the reconcile that may stall it."""
    now = time.monotonic()
    current = {p.reason for p in problems if p.reason in dependencies.GRACED}
    for key in [k for k in ctx.problem_since if k[:2] == (namespace, name) and k[2] not in current]:
        del ctx.problem_since[key]
    waited = {r: now - ctx.problem_since.setdefault((namespace, name, r), now) for r in current}
    pending = [ctx.stall_after - w for w in waited.values() if w < ctx.stall_after]
    if pending:
        ctx.enqueue(("OnlineEndpoint", namespace, name), delay=min(pending) + 0.5)
    return waited


async def _render(
    ctx: Context,
    endpoint: OnlineEndpoint,
    states: list[render_online.DeploymentState],
    keys: tuple[str, str] | None,
) -> render_online.EndpointRender:
    """The endpoint's children, with the scoring URI on the address its Gateway publishes."""
    plan = routing_.plan(endpoint, gateway_api_available=ctx.gateway_api, settings=ctx.render)
    address = await routecheck.public_address(
        ctx,
        kind=plan.kind,
        parent_refs=plan.parent_refs,
        namespace=endpoint.metadata.namespace or "",
        https=bool(endpoint.spec.routing.tls_secret_name),
    )
    return render_online.endpoint_children(
        endpoint,
        deployments=states,
        keys=keys,
        gateway_api_available=ctx.gateway_api,
        settings=ctx.render,
        public_address=address,
    )


async def _reference_problem(ctx: Context, body: Body, endpoint: OnlineEndpoint) -> Outcome | None:
    """Stalled when the endpoint's host is another endpoint's or its TLS Secret is missing (then
    rechecked later); None when its references are fine."""
    meta = body["metadata"]
    problem = references.host_conflict(ctx, body)
    if problem is None and endpoint.spec.routing.tls_secret_name:
        tls = [("spec.routing.tlsSecretName", endpoint.spec.routing.tls_secret_name)]
        problem = await references.check_secrets(ctx, meta["namespace"], tls)
        if problem is not None:
            references.recheck_later(ctx, ("OnlineEndpoint", meta["namespace"], meta["name"]), problem)
    return problem


@dataclass(frozen=True)
class _Keys:
    values: tuple[str, str]
    annotations: dict[str, str]


async def _keys(
    ctx: Context, endpoint: OnlineEndpoint, body: Body, *, read: bool
) -> tuple[_Keys | None, Body | None]:
    """The endpoint's keys (None: authMode none, or not ``read``) and its keys Secret as read now.

    The Secret is never cached: it is read (one GET) only by a full reconcile
    (``Context.full_needed``); a light one renders no Secret and keeps the one there.
    """
    if not read or endpoint.spec.auth_mode != "key":
        return None, None
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    secret = await ctx.call(ctx.kube.get, resources.SECRET, namespace, names.keys_secret(name))
    values, annotations = await keys_.endpoint_keys(ctx, endpoint, body, secret)
    return (_Keys(values, annotations) if values is not None else None), secret


def _fill_status(
    ctx: Context,
    status: OnlineEndpointStatus,
    body: Body,
    endpoint: OnlineEndpoint,
    states: list[render_online.DeploymentState],
    rendered: render_online.EndpointRender,
    *,
    keyed: bool,
) -> str:
    """Write what the endpoint serves into ``status``; returns the traffic summary (``blue=90,green=10``)."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    summary = ",".join(f"{k}={v}" for k, v in sorted(rendered.effective_traffic.items())) or "none"
    status.scoring_uri = rendered.scoring_uri
    status.swagger_uri = rendered.swagger_uri
    status.traffic = rendered.effective_traffic
    status.traffic_summary = summary
    status.mirror_traffic = rendered.effective_mirror
    status.deployments = _summaries(ctx, namespace, endpoint, states, rendered)
    status.keys_secret_name = names.keys_secret(name) if keyed else None
    status.routing = rendered.routing
    status.service_name = names.endpoint_service(name)
    return summary


async def _problems(
    ctx: Context,
    body: Body,
    endpoint: OnlineEndpoint,
    states: list[render_online.DeploymentState],
    rendered: render_online.EndpointRender,
    *,
    live: dict[tuple[str, str], Body],
) -> list[Problem]:
    """Why the endpoint is not Ready: its deployments, then its routing objects' status, then
    (only when both are fine) the Gateway's data plane (``gatewayprobe.py``)."""
    namespace = body["metadata"]["namespace"]
    problems = _deployment_problems(ctx, body, endpoint, states)
    problems += await routecheck.problems(ctx, kind=rendered.routing, live=live, namespace=namespace)
    if not problems and rendered.routing == routing_.GATEWAY_API:
        deployments = gatewayprobe.probed(ctx, namespace, states)
        return await gatewayprobe.problems(ctx, endpoint=endpoint, deployments=deployments, live=live)
    gatewayprobe.forget(ctx, namespace, body["metadata"]["name"])
    return problems


async def _reconcile(ctx: Context, body: Body, status: OnlineEndpointStatus) -> Outcome:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        endpoint = OnlineEndpoint.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    wrong = outcome.check_target("OnlineEndpoint", name, endpoint.spec.target)
    if wrong is not None:
        return wrong
    key = ("OnlineEndpoint", namespace, name)
    full, epoch = ctx.full_needed(key)
    if full:
        problem = await _reference_problem(ctx, body, endpoint)
        if problem is not None:
            return problem
    keys, secret = await _keys(ctx, endpoint, body, read=full)
    states = _states(ctx, namespace, name)
    rendered = await _render(ctx, endpoint, states, keys.values if keys else None)
    if keys is not None:
        for obj in rendered.objects:
            if obj["kind"] == "Secret" and keys.annotations:
                obj["metadata"].setdefault("annotations", {}).update(keys.annotations)
    if full and keys is None:  # authMode none: the keys Secret goes (never cached, so pruned by name)
        await prune_by_name(ctx, resources.SECRET, namespace, names.keys_secret(name), owner_uid=meta["uid"])
    prunable = list(CHILD_KINDS) if not rendered.problems else [resources.SERVICE]
    try:
        live = await converge(
            ctx,
            rendered.objects,
            owner_uid=meta["uid"],
            namespace=namespace,
            prunable=prunable,
            read={("Secret", names.keys_secret(name)): secret},
        )
    except NameConflict as exc:
        return Outcome.stalled(reasons.NAME_CONFLICT, str(exc))
    if full:
        ctx.mark_clean(key, epoch)
    if keys is not None and not (body.get("status") or {}).get("keysSecretName"):
        _wake_deployments(ctx, namespace, name)  # new keys
    keyed = endpoint.spec.auth_mode == "key"
    summary = _fill_status(ctx, status, body, endpoint, states, rendered, keyed=keyed)
    if rendered.problems:
        return Outcome.stalled(reasons.ROUTING_UNSUPPORTED, "; ".join(rendered.problems))
    problems = await _problems(ctx, body, endpoint, states, rendered, live=live)
    previous = conditions.get_condition((body.get("status") or {}).get("conditions"), conditions.STALLED)
    stalled_before = [previous["reason"]] if previous and previous.get("status") == "True" else []
    found = dependencies.verdict(
        problems,
        waited=_waited(ctx, namespace, name, problems),
        grace=ctx.stall_after,
        stalled_before=stalled_before,
    )
    if found is not None:
        return found
    return Outcome.ready(f"serving {summary} at {rendered.scoring_uri}")
