"""Reconcile one OnlineEndpoint: keys Secret, stable Service, traffic-weighted route, status.

Traffic goes only to Ready deployments (the renderer moves a not-Ready deployment's weight to
the Ready ones); status shows desired vs effective traffic and stays Reconciling until they
match. A deployment deleted while it still had traffic is reported (condition + Event) while the
route keeps serving the rest.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from pydantic import ValidationError

from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.backends.kubernetes import outcome, references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import NameConflict, converge
from mlendpoints.backends.kubernetes.outcome import validation_message
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.render import names
from mlendpoints.render import online as render_online
from mlendpoints.status import conditions, reasons
from mlendpoints.status.conditions import Outcome

log = logging.getLogger(__name__)

REGENERATE_ANNOTATION = "mlendpoints.io/regenerate-keys"
HANDLED_ANNOTATION = "mlendpoints.io/regenerate-keys-handled"
CHILD_KINDS = (resources.SERVICE, resources.SECRET, resources.HTTPROUTE, resources.INGRESS)


def new_key() -> str:
    return secrets.token_urlsafe(32)


async def _keys(
    ctx: Context, endpoint: OnlineEndpoint, body: Body
) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """Existing keys, generated once; rotated when the regenerate annotation carries a new value.

    The annotation value is ``primary``, ``secondary`` or ``both``, optionally ``@<anything>``; the
    Secret remembers the last value handled, so a rotation happens once per distinct value and the
    user's object is never written to.
    """
    if endpoint.spec.auth_mode != "key":
        return None, {}
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    secret = await ctx.call(ctx.kube.get, resources.SECRET, namespace, names.keys_secret(name))
    data = {}
    if secret is not None:
        import base64

        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    primary, secondary = data.get("primaryKey") or new_key(), data.get("secondaryKey") or new_key()
    request = (body["metadata"].get("annotations") or {}).get(REGENERATE_ANNOTATION, "")
    handled = ((secret or {}).get("metadata", {}).get("annotations") or {}).get(HANDLED_ANNOTATION, "")
    annotations = {HANDLED_ANNOTATION: handled} if handled else {}
    if request and request != handled:
        which = request.split("@", 1)[0].strip().lower()
        if which in ("primary", "both"):
            primary = new_key()
        if which in ("secondary", "both"):
            secondary = new_key()
        if which in ("primary", "secondary", "both"):
            annotations = {HANDLED_ANNOTATION: request}
            await ctx.event(
                body, type="Normal", reason="KeysRegenerated", message=f"regenerated {which} key(s)"
            )
        else:
            await ctx.event(
                body,
                type="Warning",
                reason="InvalidAnnotation",
                message=f"{REGENERATE_ANNOTATION} must be primary, secondary or both (optionally @suffix), got {request!r}",
            )
            annotations = {HANDLED_ANNOTATION: request}
    return (primary, secondary), annotations


async def reconcile(ctx: Context, namespace: str, name: str) -> None:
    await outcome.run(ctx, "OnlineEndpoint", namespace, name, _reconcile, events=True)


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
            )
        )
    return out


def _route_problem(live: dict[tuple[str, str], Body]) -> str | None:
    """A Gateway that reports the HTTPRoute not accepted (no report: nothing to wait for)."""
    for (kind, _), obj in live.items():
        if kind != "HTTPRoute":
            continue
        for parent in (obj.get("status") or {}).get("parents") or []:
            for cond in parent.get("conditions") or []:
                if cond.get("type") in ("Accepted", "ResolvedRefs") and cond.get("status") == "False":
                    ref = (parent.get("parentRef") or {}).get("name", "?")
                    return f"Gateway {ref}: {cond.get('type')}=False: {cond.get('message') or cond.get('reason')}"
    return None


async def _reconcile(ctx: Context, body: Body, status: dict[str, Any]) -> Outcome:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        endpoint = OnlineEndpoint.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    if endpoint.spec.target != "kubernetes":
        return Outcome.stalled(
            reasons.TARGET_UNSUPPORTED,
            f"target {endpoint.spec.target} is not reconciled by this operator build",
        )
    problem = references.host_conflict(ctx, body)
    if problem is None and endpoint.spec.routing.tls_secret_name:
        tls = [("spec.routing.tlsSecretName", endpoint.spec.routing.tls_secret_name)]
        problem = await references.check_secrets(ctx, namespace, tls)
        if problem is not None:
            references.recheck_later(ctx, ("OnlineEndpoint", namespace, name), problem)
    if problem is not None:
        return problem
    keys, secret_annotations = await _keys(ctx, endpoint, body)
    states = _states(ctx, namespace, name)
    rendered = render_online.endpoint_children(
        endpoint, deployments=states, keys=keys, gateway_api_available=ctx.gateway_api, settings=ctx.render
    )
    objects = rendered.objects
    for obj in objects:
        if obj["kind"] == "Secret" and secret_annotations:
            obj["metadata"].setdefault("annotations", {}).update(secret_annotations)
    prunable = list(CHILD_KINDS) if not rendered.problems else [resources.SERVICE, resources.SECRET]
    try:
        live = await converge(ctx, objects, owner_uid=meta["uid"], namespace=namespace, prunable=prunable)
    except NameConflict as exc:
        return Outcome.stalled(reasons.NAME_CONFLICT, str(exc))

    existing = {s.name for s in states if not s.deleting}
    seen = ctx.seen_deployments.setdefault((namespace, name), set())
    seen |= existing
    # After a restart the in-memory set is empty: deployments the last status showed serving count too.
    seen |= {
        d["name"]
        for d in (body.get("status") or {}).get("deployments") or []
        if d.get("ready") or d.get("readyReplicas")
    }
    desired = dict(endpoint.spec.traffic)
    lost = sorted(d for d, w in desired.items() if w > 0 and d in seen and d not in existing)
    summaries = []
    for dep_name in sorted(existing | set(desired) | set(endpoint.spec.mirror_traffic)):
        dep = ctx.store.get("OnlineDeployment", namespace, dep_name)
        dst = (dep or {}).get("status") or {}
        state = next((s for s in states if s.name == dep_name), None)
        summaries.append(
            {
                "name": dep_name,
                "ready": bool(state and state.ready),
                "desiredTraffic": desired.get(dep_name, 0),
                "effectiveTraffic": rendered.effective_traffic.get(dep_name, 0),
                "mirrorTraffic": rendered.effective_mirror.get(dep_name, 0),
                "replicas": int(dst.get("replicas", 0)),
                "readyReplicas": int(dst.get("readyReplicas", 0)),
            }
        )
    status.update(
        {
            "scoringUri": rendered.scoring_uri,
            "swaggerUri": rendered.swagger_uri,
            "traffic": rendered.effective_traffic,
            "trafficSummary": ",".join(f"{k}={v}" for k, v in sorted(rendered.effective_traffic.items()))
            or "none",
            "mirrorTraffic": rendered.effective_mirror,
            "deployments": summaries,
            "keysSecretName": names.keys_secret(name) if keys else None,
            "routing": rendered.routing,
            "serviceName": names.endpoint_service(name),
        }
    )
    if rendered.problems:
        return Outcome.stalled(reasons.ROUTING_UNSUPPORTED, "; ".join(rendered.problems))
    if lost:
        message = (
            f"deployment(s) {', '.join(lost)} were deleted while spec.traffic still gives them traffic; "
            "their share goes to the remaining Ready deployments. Remove them from spec.traffic."
        )
        return Outcome.stalled(reasons.DELETING_WITH_TRAFFIC, message)
    stuck = []
    for dep_name in rendered.waiting:
        dep_body = ctx.store.get("OnlineDeployment", namespace, dep_name)
        stalled = conditions.get_condition(
            ((dep_body or {}).get("status") or {}).get("conditions"), conditions.STALLED
        )
        if stalled is not None and stalled.get("status") == "True":
            stuck.append(f"{dep_name}: {stalled.get('message') or stalled.get('reason')}")
    if stuck:
        return Outcome.stalled(
            reasons.DEPLOYMENT_STALLED,
            "deployment(s) given traffic are stalled and get none until fixed: " + "; ".join(stuck),
        )
    if rendered.waiting:
        return Outcome.progressing(
            reasons.WAITING_FOR_DEPLOYMENTS,
            f"waiting for deployment(s) {', '.join(rendered.waiting)} to become Ready; their traffic goes to the others",
        )
    route = _route_problem(live)
    if route is not None:
        return Outcome.progressing(reasons.WAITING_FOR_ROUTE, route)
    return Outcome.ready(f"serving {status['trafficSummary']} at {rendered.scoring_uri}")
