"""Reconcile a ModelMonitor: its CronJob, and the latest run's result in status, an Event and metrics.

The CronJob is rendered by ``render/monitor.py``; finished drift pods (label
``mlendpoints.io/monitor``, watched like every managed pod) carry their result in the termination
message, which ``status/monitor.py`` turns into ``status.lastRun``. A new run is announced once,
as an Event (``DriftDetected`` Warning, ``NoDrift`` Normal or ``MonitorRunFailed`` Warning), and
its per-feature scores are exported as ``mlendpoints_drift_score`` gauges on the operator's
``/metrics``. Pods removed by the CronJob's history limit do not erase ``lastRun``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge
from pydantic import ValidationError

from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1 import ModelMonitor, OnlineDeployment
from mlendpoints.backends.kubernetes import outcome, references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import converge
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.render import monitor as render_monitor
from mlendpoints.render.errors import RenderError
from mlendpoints.status import monitor as monitor_status
from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome

#: Kinds the monitor reconciler applies (RBAC: get, create, patch, delete).
CHILD_KINDS = (resources.CRONJOB,)
DRIFT_SCORE = Gauge(
    "mlendpoints_drift_score",
    "Latest drift score per feature of a ModelMonitor (p-value for kolmogorov_smirnov/chi_squared).",
    ["namespace", "monitor", "deployment", "feature", "metric"],
)
DRIFTED = Gauge(
    "mlendpoints_drift_features_drifted",
    "Features beyond their threshold in a ModelMonitor's latest run.",
    ["namespace", "monitor", "deployment"],
)
_series: dict[tuple[str, str], list[tuple[str, str, str, str, str]]] = {}
_deployments: dict[tuple[str, str], set[str]] = {}


def forget(namespace: str, name: str) -> None:
    """Drop a monitor's metric series (it was deleted, or its features changed)."""
    for series in _series.pop((namespace, name), []):
        DRIFT_SCORE.remove(*series)
    for labels in list(DRIFTED._metrics):
        if labels[:2] == (namespace, name):
            DRIFTED.remove(*labels)


def _export(namespace: str, name: str, deployment: str, run: Body) -> None:
    forget(namespace, name)
    series = []
    for f in run.get("features") or []:
        if f.get("score") is not None:
            labels = (namespace, name, deployment, str(f["name"]), str(f["metric"]))
            DRIFT_SCORE.labels(*labels).set(float(f["score"]))
            series.append(labels)
    _series[(namespace, name)] = series
    _deployments[(namespace, name)] = {deployment}
    DRIFTED.labels(namespace, name, deployment).set(len(run.get("driftedFeatures") or []))


async def reconcile(ctx: Context, namespace: str, name: str) -> None:
    if ctx.store.get("ModelMonitor", namespace, name) is None:
        forget(namespace, name)
        return
    await outcome.run(ctx, "ModelMonitor", namespace, name, _monitor, events=True, typed=False)


async def _monitor(ctx: Context, body: Body, status: dict[str, Any]) -> Outcome:
    namespace = body["metadata"]["namespace"]
    try:
        mon = ModelMonitor.model_validate(body)
    except ValidationError as exc:
        return Outcome.stalled(reasons.INVALID_SPEC, validation_message(exc))
    dep_body = ctx.store.get("OnlineDeployment", namespace, mon.spec.deployment_name)
    if dep_body is None:
        msg = f"OnlineDeployment {mon.spec.deployment_name!r} does not exist yet"
        return Outcome.progressing(reasons.WAITING_FOR_DEPLOYMENT, msg)
    try:
        dep = OnlineDeployment.model_validate(dep_body)
    except ValidationError:
        msg = f"OnlineDeployment {mon.spec.deployment_name!r} is invalid (see its status)"
        return Outcome.progressing(reasons.WAITING_FOR_DEPLOYMENT, msg)
    if dep.spec.endpoint_name != mon.spec.endpoint_name:
        msg = f"OnlineDeployment {dep.metadata.name!r} belongs to endpoint {dep.spec.endpoint_name!r}"
        return Outcome.stalled(reasons.ENDPOINT_MISMATCH, msg)
    uid = body["metadata"]["uid"]
    if mon.spec.credentials_secret_ref is not None:
        ref = [("spec.credentialsSecretRef", mon.spec.credentials_secret_ref.name)]
        problem = await references.check_secrets(ctx, namespace, ref)
        if problem is not None:
            # fail closed: no run of ours may keep mounting a Secret that may not be used
            await converge(ctx, [], owner_uid=uid, namespace=namespace, prunable=CHILD_KINDS)
            references.recheck_later(ctx, ("ModelMonitor", namespace, body["metadata"]["name"]), problem)
            return problem
    try:
        cron = render_monitor.cron_job(mon, dep, image=ctx.render.runtime_image)
    except RenderError as exc:
        return Outcome.stalled(reasons.NO_PRODUCTION_DATA, str(exc))
    await converge(ctx, [cron], owner_uid=uid, namespace=namespace, prunable=CHILD_KINDS)
    status["cronJobName"] = cron["metadata"]["name"]
    await _report_run(ctx, body, mon, status)
    return Outcome.ready(
        f"runs on schedule {mon.spec.schedule!r}" + (" (suspended)" if mon.spec.suspend else "")
    )


async def _report_run(ctx: Context, body: Body, mon: ModelMonitor, status: dict[str, Any]) -> None:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    pods = ctx.store.by_label("Pod", namespace, render_monitor.MONITOR_LABEL, name)
    run = monitor_status.last_run(pods)
    previous = (body.get("status") or {}).get("lastRun")
    if run is None:
        if previous:
            status["lastRun"] = previous
        return
    status["lastRun"] = run
    status["drifted"] = len(run.get("driftedFeatures") or [])
    _export(namespace, name, mon.spec.deployment_name, run)
    if previous and previous.get("time") == run["time"]:
        return
    if run["result"] == "failed":
        await ctx.event(
            body, type="Warning", reason=reasons.MONITOR_RUN_FAILED, message=run["message"][:1024]
        )
    elif run.get("driftedFeatures"):
        features = ", ".join(run["driftedFeatures"])
        await ctx.event(
            body, type="Warning", reason=reasons.DRIFT_DETECTED, message=f"data drift on {features}"
        )
    else:
        detail = run["message"] or f"no drift ({len(run.get('features') or [])} features)"
        await ctx.event(body, type="Normal", reason=reasons.NO_DRIFT, message=f"{run['result']}: {detail}")
