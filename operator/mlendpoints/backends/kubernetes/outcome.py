"""Turning a reconcile's :class:`Outcome` into status, Events and retries: one path for every kind.

Each reconciler computes an Outcome and fills kind-specific fields of the kind's typed status
model (``OnlineEndpointStatus``, ...: a misspelt field is a type error, and the CRD's schema is
generated from the same model, so nothing written is pruned by the API server); :func:`run` calls
it, maps failures (a child the API server rejects is Stalled; anything else is shown as
Ready=False/Reconciling and re-raised so the queue retries with backoff), and :func:`conclude`
adds ``observedGeneration`` and the kstatus conditions, serializes the model by alias (the one
place status is serialized) and writes only what differs from the live status.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mlendpoints.api.v1alpha1 import batch, instancetype, online
from mlendpoints.api.v1alpha1 import monitor as monitor_api
from mlendpoints.api.v1alpha1.base import on_kubernetes
from mlendpoints.api.v1alpha1.common import Condition, StatusBase
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import status_patch, write_status
from mlendpoints.clients.kube import Rejected
from mlendpoints.clients.store import Body
from mlendpoints.status import conditions, reasons
from mlendpoints.status.conditions import Outcome, State

log = logging.getLogger(__name__)

#: ``(ctx, body, status) -> Outcome``: sets kind-specific fields on ``status`` (an instance of the
#: kind's :data:`STATUS` model; only the fields set are written), returns the verdict.
Inner = Callable[[Context, Body, Any], Awaitable[Outcome]]

#: Each kind's status model: what :func:`run` hands its reconciler and :func:`conclude` serializes.
STATUS: dict[str, type[StatusBase]] = {
    "OnlineEndpoint": online.OnlineEndpointStatus,
    "OnlineDeployment": online.OnlineDeploymentStatus,
    "InstanceType": instancetype.InstanceTypeStatus,
    "BatchEndpoint": batch.BatchEndpointStatus,
    "BatchDeployment": batch.BatchDeploymentStatus,
    "BatchJob": batch.BatchJobStatus,
    "ModelMonitor": monitor_api.ModelMonitorStatus,
}


def serialize(status: StatusBase) -> dict[str, Any]:
    """The fields set on ``status``, by alias, as JSON values (None: remove the field)."""
    return status.model_dump(by_alias=True, mode="json", exclude_unset=True)


def check_target(kind: str, name: str, target: str) -> Outcome | None:
    """None for an endpoint on target kubernetes, else ``Stalled/TargetUnsupported``.

    The controller routes other targets to the Azure ML backend (``backends.azureml.handles``,
    from the cache); this guards the Kubernetes reconcilers, which read the endpoint live.

    Args:
        kind: ``OnlineEndpoint`` or ``BatchEndpoint``.
        name: The endpoint's name.
        target: Its ``spec.target``.
    """
    if on_kubernetes(target):
        return None
    return Outcome.stalled(
        reasons.TARGET_UNSUPPORTED,
        f"{kind} {name!r} has target {target}: the Kubernetes reconciler handles target kubernetes only",
    )


#: Status fields that count a rollout's steps (top level, and in an endpoint's ``deployments[]``),
#: and the scale subresource's label selector, set once the child Deployment exists.
COUNTERS = frozenset({"replicas", "readyReplicas", "updatedReplicas", "availableReplicas", "selector"})
#: Reconciling reasons that only wait for a rollout to advance (their messages count its steps);
#: other reasons carry a diagnosis (a Gateway's own reason, a route's) and are written at once.
PROGRESS_REASONS = frozenset(
    {
        reasons.WAITING_FOR_ENDPOINT,
        reasons.ROLLING_OUT,
        reasons.WAITING_FOR_DEPLOYMENTS,
        reasons.GATEWAY_NOT_SERVING,  # the gateway probe, retried with backoff from 1 s
    }
)

#: In-progress reasons that are a rollout's ordinary steps: recorded in status, not as Events. A
#: deployment named in traffic but not seen yet is one while it is created alongside the endpoint
#: (after the grace period it is Stalled, which is recorded).
ROLLOUT_STEPS = PROGRESS_REASONS | {
    reasons.WAITING_FOR_ROUTE,
    reasons.DEPLOYMENT_NOT_FOUND,
    reasons.PROGRESSING,
}


def _essence(status: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` without what only reports progress: the counters, and the conditions' reasons,
    messages and times (their types and statuses stay). None values count as absent."""
    out: dict[str, Any] = {}
    for key, value in status.items():
        if value is None or key in COUNTERS:
            continue
        if key == "conditions":
            value = sorted((c.get("type"), c.get("status")) for c in value or [])
        elif key == "deployments":
            value = [{k: v for k, v in d.items() if k not in COUNTERS} for d in value or []]
        out[key] = value
    return out


def progress_only(body: Body, outcome: Outcome, desired: Mapping[str, Any]) -> bool:
    """Whether writing ``desired`` (status fields by alias) for ``outcome`` would only report
    progress: the object shows Reconciling (Ready=Unknown) at its current generation, stays so,
    waiting on a rollout (:data:`PROGRESS_REASONS`, before and after), and nothing but
    :data:`COUNTERS` and the conditions' reasons and messages would change (not traffic, URIs, or
    which deployments are ready)."""
    status = body.get("status") or {}
    ready = conditions.get_condition(status.get("conditions"), conditions.READY)
    return (
        outcome.state is State.PROGRESSING
        and outcome.reason in PROGRESS_REASONS
        and ready is not None
        and ready.get("status") == "Unknown"
        and ready.get("reason") in PROGRESS_REASONS
        and conditions.is_true(status.get("conditions"), conditions.RECONCILING)
        and status.get("observedGeneration") == body["metadata"].get("generation")
        and _essence({**status, **desired}) == _essence(status)
    )


async def conclude(
    ctx: Context, body: Body, status: StatusBase | dict[str, Any], outcome: Outcome, *, events: bool
) -> bool:
    """Write ``status`` plus observedGeneration and conditions for ``outcome``, if anything changed.

    ``status`` is the kind's model, or (reconcilers not converted yet) a dict of its fields by
    alias, validated into the model here. With ``events``, a change of the Ready reason is also
    recorded as an Event (Warning for Stalled and retrying outcomes). A write that only reports
    progress (:func:`progress_only`) waits until ``ctx.progress_interval`` seconds after this
    object's last status write: the object is requeued for then, and a transition arriving
    meanwhile is written at once. Returns whether it wrote.

    Raises:
        pydantic.ValidationError: a status dict with a field the model does not have.
    """
    model = STATUS[body["kind"]]
    typed = status if isinstance(status, StatusBase) else model.model_validate(status)
    meta = body["metadata"]
    generation = meta.get("generation")
    previous = (body.get("status") or {}).get("conditions")
    old = conditions.get_condition(previous, conditions.READY)
    typed.observed_generation = generation
    typed.conditions = [
        Condition.model_validate(c)
        for c in conditions.apply_outcome(previous, outcome, generation=generation)
    ]
    key = (str(body["kind"]), str(meta.get("namespace") or ""), str(meta["name"]))
    desired = serialize(typed)
    if progress_only(body, outcome, desired):
        wait = ctx.progress_wait(key)
        if wait > 0:
            if status_patch(body.get("status") or {}, desired):
                ctx.enqueue(key, delay=wait)
            return False
    wrote = await write_status(ctx, body, desired)
    if not wrote:
        return False
    ctx.wrote_status(key)
    if events and recordable(old, outcome):
        warn = outcome.state in (State.STALLED, State.RETRYING)
        await ctx.event(
            body,
            type="Warning" if warn else "Normal",
            reason=outcome.reason,
            message=outcome.message or outcome.reason,
        )
    return True


def recordable(old: Mapping[str, Any] | None, outcome: Outcome) -> bool:
    """Whether a status written for ``outcome`` is also recorded as an Event.

    Events record transitions, as the Kubernetes Event guidelines ask (what changed, not every
    step): a problem (Stalled, or a failed reconcile being retried) whose reason is new, as a
    Warning; the Ready condition turning True, or stopping being True; and a new diagnosis while
    in progress (an Azure operation in progress, a Gateway not programmed yet), as Normal Events.
    The ordinary steps of a rollout (:data:`ROLLOUT_STEPS`) are in status only.

    Args:
        old: The Ready condition before this write (None: the object had none).
        outcome: What the reconcile concluded.
    """
    old = old or {}
    if outcome.state in (State.STALLED, State.RETRYING):
        return old.get("reason") != outcome.reason
    if (old.get("status") == "True") != (outcome.state is State.READY):
        return True
    return old.get("reason") != outcome.reason and outcome.reason not in ROLLOUT_STEPS


async def run(
    ctx: Context,
    kind: str,
    namespace: str | None,
    name: str,
    inner: Inner,
    *,
    events: bool,
    typed: bool = True,
) -> None:
    """Reconcile the cached object ``kind``/``namespace``/``name`` with ``inner`` and report the result.

    ``inner`` gets an empty :data:`STATUS` model of the kind to fill in, or with ``typed=False``
    (BatchJob and ModelMonitor reconcilers, not converted yet) a dict of fields by alias that
    :func:`conclude` validates into the model.
    """
    body = ctx.store.get(kind, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    status: StatusBase | dict[str, Any] = STATUS[kind]() if typed else {}
    try:
        outcome = await inner(ctx, body, status)
    except Rejected as exc:
        outcome = Outcome.stalled(
            reasons.INVALID_SPEC, f"the API server rejected a child object: {exc.message()}"
        )
    except Exception as exc:
        await _report_error(ctx, body, exc)
        raise
    await conclude(ctx, body, status, outcome, events=events)


async def _report_error(ctx: Context, body: Body, exc: Exception) -> None:
    """Show a failed reconcile in status (Ready=False, Reconciling=True: kstatus InProgress).

    The queue retries with backoff; meanwhile users and GitOps tools see why, instead of a
    resource with no status at all. Best effort: the API may be what is failing.
    """
    message = f"{type(exc).__name__}: {getattr(exc, 'body', None) or exc}"[:1024]
    outcome = Outcome.retrying(reasons.RECONCILE_ERROR, f"will retry: {message}")
    try:
        await conclude(ctx, body, STATUS[body["kind"]](), outcome, events=False)
    except Exception as inner:  # the API being down is a likely cause; the queue still retries
        log.debug("could not report reconcile error: %s", inner)
