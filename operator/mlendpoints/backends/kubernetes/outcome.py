"""Turning a reconcile's :class:`Outcome` into status, Events and retries: one path for every kind.

Each reconciler computes an Outcome (and kind-specific status fields); :func:`run` calls it,
maps failures (a child the API server rejects is Stalled; anything else is shown as
Ready=False/Reconciling and re-raised so the queue retries with backoff), and :func:`conclude`
writes ``observedGeneration`` and the kstatus conditions only when they changed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.converge import write_status
from mlendpoints.clients.kube import Rejected
from mlendpoints.clients.store import Body
from mlendpoints.status import conditions, reasons
from mlendpoints.status.conditions import Outcome, State

log = logging.getLogger(__name__)

#: ``(ctx, body, status) -> Outcome``: fills kind-specific ``status`` fields, returns the verdict.
Inner = Callable[[Context, Body, dict[str, Any]], Awaitable[Outcome]]


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def owner_reference(body: Body) -> dict[str, Any]:
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


async def conclude(
    ctx: Context, body: Body, status: dict[str, Any], outcome: Outcome, *, events: bool
) -> None:
    """Write ``status`` plus observedGeneration and conditions for ``outcome``, if anything changed.

    With ``events``, a change of the Ready reason is also recorded as an Event (Warning for
    Stalled and retrying outcomes).
    """
    generation = body["metadata"].get("generation")
    previous = (body.get("status") or {}).get("conditions")
    old = conditions.get_condition(previous, conditions.READY)
    status["observedGeneration"] = generation
    status["conditions"] = conditions.apply_outcome(previous, outcome, generation=generation)
    if await write_status(ctx, body, status) and events and (old or {}).get("reason") != outcome.reason:
        warn = outcome.state in (State.STALLED, State.RETRYING)
        await ctx.event(
            body,
            type="Warning" if warn else "Normal",
            reason=outcome.reason,
            message=outcome.message or outcome.reason,
        )


async def run(
    ctx: Context, kind: str, namespace: str | None, name: str, inner: Inner, *, events: bool
) -> None:
    """Reconcile the cached object ``kind``/``namespace``/``name`` with ``inner`` and report the result."""
    body = ctx.store.get(kind, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    status: dict[str, Any] = {}
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
        await conclude(ctx, body, {}, outcome, events=False)
    except Exception as inner:  # the API being down is a likely cause; the queue still retries
        log.debug("could not report reconcile error: %s", inner)
