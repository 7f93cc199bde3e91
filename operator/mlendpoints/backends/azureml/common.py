"""What every Azure ML reconciler shares: settings, workspace and credential, finalizer, outcomes.

Reconcilers here are level-triggered and never block the event loop: every SDK call runs in a
worker thread (``Context.call``), ``begin_*`` returns at once, and the reconcile asks the queue to
come back after :attr:`AzureSettings.poll_interval` while Azure reports Creating/Updating/Deleting.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlendpoints.api.v1alpha1.common import AzureMLSettings
from mlendpoints.backends.kubernetes import references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.backends.kubernetes.outcome import conclude
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.status import conditions, reasons
from mlendpoints.status.conditions import Outcome

if TYPE_CHECKING:
    from mlendpoints.clients.azureml import AzureFailure, AzureML, Credential, Workspace

log = logging.getLogger(__name__)

FINALIZER = "mlendpoints.io/azureml"
IN_PROGRESS = ("Creating", "Updating", "Scaling", "Deleting")
FAILED = ("Failed", "Canceled")
SECRET_KEYS = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
CREDENTIAL_FIELD = "spec.azureml.credential.secretRef"
NAMESPACE = resources.Kind("v1", "Namespace", "namespaces", namespaced=False)


@dataclass(frozen=True)
class AzureSettings:
    #: Seconds between reads of an Azure resource while an operation is in progress.
    poll_interval: float = 10.0
    #: Seconds between re-reads of a settled resource (notices changes made in Azure directly).
    resync_interval: float = 600.0
    #: Allow ManagedIdentityCredential (IMDS: the node's identity) in the default credential chain.
    allow_managed_identity: bool = False

    @classmethod
    def from_env(cls) -> AzureSettings:
        env = os.environ
        return cls(
            poll_interval=float(env.get("MLENDPOINTS_AZURE_POLL_INTERVAL", cls.poll_interval)),
            resync_interval=float(env.get("MLENDPOINTS_AZURE_RESYNC_INTERVAL", cls.resync_interval)),
            allow_managed_identity=env.get("MLENDPOINTS_AZURE_MANAGED_IDENTITY", "").lower() in ("1", "true"),
        )


@dataclass
class Azure:
    """The Kubernetes context plus the Azure ML client (imported on first use: ~2 s, ~100 MB)."""

    ctx: Context
    settings: AzureSettings
    _client: AzureML | None = None
    #: Per object: monotonic time before which Azure must not be called again (429 Retry-After,
    #: 5xx backoff). Watch events (e.g. our own status write) would otherwise re-run it at once.
    holds: dict[tuple[str, str, str], float] = field(default_factory=dict)

    @property
    def client(self) -> AzureML:
        if self._client is None:
            from mlendpoints.clients.azureml import AzureML

            self._client = AzureML(
                polling_interval=max(self.settings.poll_interval, 0.1),
                allow_managed_identity=self.settings.allow_managed_identity,
            )
        return self._client


@dataclass
class Verdict:
    """An outcome plus when to look again (None: only on the next watch event)."""

    outcome: Outcome
    requeue: float | None = None


class Stop(Exception):
    """End the reconcile early with this verdict (missing credential, Azure failure...)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.outcome.message)
        self.verdict = verdict


def workspace(settings: AzureMLSettings) -> Workspace:
    from mlendpoints.clients.azureml import Workspace

    return Workspace(settings.subscription_id, settings.resource_group, settings.workspace_name)


async def credential(az: Azure, body: Body, settings: AzureMLSettings) -> Credential:
    """The credential the resource asks for; Stop (Stalled, re-checked later) when it is unusable.

    A ``secretRef`` must name a Secret in the resource's namespace that may be referenced
    (:func:`references.secret_problem`: labelled ``mlendpoints.io/allow-reference: "true"``, not
    made by mlendpoints), else ``SecretNotAllowed``; a missing one is ``AzureCredentialMissing``.
    """
    from mlendpoints.clients.azureml import Credential

    spec = settings.credential
    if spec.workload_identity:
        return Credential("workloadIdentity")
    if spec.secret_ref is None:
        return Credential("default")
    namespace = body["metadata"]["namespace"]
    secret = await az.ctx.call(az.ctx.kube.get, resources.SECRET, namespace, spec.secret_ref.name)
    if secret is None and body["metadata"].get("deletionTimestamp"):
        await _orphan_if_namespace_terminating(az, body, spec.secret_ref.name)
    if secret is None:
        msg = f"{CREDENTIAL_FIELD}: Secret {spec.secret_ref.name!r} does not exist in namespace {namespace!r}"
        raise Stop(Verdict(Outcome.stalled(reasons.AZURE_CREDENTIAL_MISSING, msg), 60))
    # Same rule as every other Secret a resource names: opted in by label, never one mlendpoints made.
    problem = references.secret_problem(CREDENTIAL_FIELD, namespace, spec.secret_ref.name, secret)
    if problem is not None:
        raise Stop(Verdict(problem, references.RECHECK_S))
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    missing = [k for k in SECRET_KEYS if not data.get(k)]
    if missing:
        msg = f"Secret {spec.secret_ref.name!r} lacks {', '.join(missing)} (service principal credentials)"
        raise Stop(Verdict(Outcome.stalled(reasons.AZURE_CREDENTIAL_MISSING, msg), 60))
    return Credential("secret", tuple((k, data[k]) for k in SECRET_KEYS))


async def _orphan_if_namespace_terminating(az: Azure, body: Body, secret: str) -> None:
    """Deleting a namespace deletes the credential Secret too; then Azure cannot be reached and the
    finalizer would block the namespace forever. Leave the Azure resources (Warning Event) instead."""
    ns = await az.ctx.call(az.ctx.kube.get, NAMESPACE, None, body["metadata"]["namespace"])
    if ns is not None and not ns["metadata"].get("deletionTimestamp"):
        return
    await az.ctx.event(
        body,
        type="Warning",
        reason="AzureCleanupSkipped",
        message=f"namespace is being deleted and Secret {secret!r} is gone: the Azure ML resources are left in place",
    )
    await remove_finalizer(az, body)
    raise Stop(Verdict(Outcome.ready(reason=reasons.AZURE_FINALIZED)))


def failure_verdict(exc: AzureFailure, settings: AzureSettings, what: str) -> Verdict:
    """How an Azure failure shows in conditions, and when to try again."""
    msg = f"{what}: {exc.message}"
    if exc.kind == "throttled":
        delay = exc.retry_after if exc.retry_after is not None else 30.0
        return Verdict(Outcome.retrying(reasons.AZURE_THROTTLED, f"{msg} (retrying in {delay:g}s)"), delay)
    if exc.kind == "conflict":
        return Verdict(Outcome.progressing(reasons.AZURE_OPERATION_IN_PROGRESS, msg), settings.poll_interval)
    if exc.kind == "auth":
        return Verdict(Outcome.stalled(reasons.AZURE_AUTH_FAILED, msg), 60)
    if exc.kind in ("invalid", "notfound"):
        return Verdict(Outcome.stalled(reasons.AZURE_REJECTED, msg), settings.resync_interval)
    return Verdict(Outcome.retrying(reasons.AZURE_UNAVAILABLE, msg), min(60.0, settings.poll_interval * 3))


async def azure_call(az: Azure, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a client call in a worker thread; an AzureFailure becomes Stop with its verdict."""
    from mlendpoints.clients.azureml import AzureFailure

    try:
        return await az.ctx.call(fn, *args)
    except AzureFailure as exc:
        log.info("%s failed: %s (%s)", what, exc.message, exc.kind)
        raise Stop(failure_verdict(exc, az.settings, what)) from exc


async def last_error(az: Azure, key: str) -> tuple[str | None, bool]:
    """Azure's error for the last operation on ``key``, and whether its poller is still running
    (Azure may show Failed on the resource a moment before the operation status says why)."""
    error = await az.ctx.call(az.client.operation_error, key)
    pending = await az.ctx.call(az.client.operation_pending, key)
    return error, pending


def state_verdict(
    state: str, error: str | None, settings: AzureSettings, what: str, *, pending: bool = False
) -> Verdict | None:
    """Verdict for a provisioning state that is not Succeeded (None when it is)."""
    if state in IN_PROGRESS or not state:
        msg = f"Azure ML {what} is {state or 'being provisioned'}"
        return Verdict(Outcome.progressing(reasons.AZURE_PROVISIONING, msg), settings.poll_interval)
    if state in FAILED:
        msg = f"Azure ML {what} provisioning {state}: {error or 'no error details (see the Azure portal)'}"
        again = settings.poll_interval if pending and error is None else settings.resync_interval
        return Verdict(Outcome.stalled(reasons.AZURE_PROVISIONING_FAILED, msg), again)
    return None


def is_ready(body: Body | None) -> bool:
    """Ready=True for the object's current generation."""
    if body is None or body["metadata"].get("deletionTimestamp"):
        return False
    st = body.get("status") or {}
    return conditions.is_true(st.get("conditions"), conditions.READY) and st.get(
        "observedGeneration"
    ) == body["metadata"].get("generation")


async def ensure_finalizer(az: Azure, body: Body) -> Body:
    """Add our finalizer (target azureml only), with optimistic concurrency on resourceVersion."""
    meta = body["metadata"]
    current = list(meta.get("finalizers") or [])
    if FINALIZER in current:
        return body
    kind = resources.of(body)
    patch = {
        "metadata": {"finalizers": [*current, FINALIZER], "resourceVersion": meta.get("resourceVersion")}
    }
    updated: Body = await az.ctx.call(az.ctx.kube.patch, kind, meta["namespace"], meta["name"], patch)
    az.ctx.store.upsert(kind.kind, updated)
    return updated


async def remove_finalizer(az: Azure, body: Body) -> None:
    meta = body["metadata"]
    current = list(meta.get("finalizers") or [])
    if FINALIZER not in current:
        return
    kind = resources.of(body)
    patch = {
        "metadata": {
            "finalizers": [f for f in current if f != FINALIZER],
            "resourceVersion": meta.get("resourceVersion"),
        }
    }
    await az.ctx.call(az.ctx.kube.patch, kind, meta["namespace"], meta["name"], patch)
    await az.ctx.event(body, type="Normal", reason="FinalizerRemoved", message="Azure ML clean-up done")


Inner = Callable[[Azure, Body, dict[str, Any]], Awaitable[Verdict]]


async def run(az: Azure, kind: str, namespace: str, name: str, inner: Inner, finalize: Inner) -> float | None:
    """Reconcile one cached object with ``inner`` (or ``finalize`` while it is being deleted).

    Writes status (observedGeneration, kstatus conditions) only when it changed, like the
    Kubernetes backend, and returns the requeue delay in seconds (None: wait for events).
    """
    body = az.ctx.store.get(kind, namespace, name)
    if body is None:
        return None
    key = (kind, namespace, name)
    hold = az.holds.get(key, 0.0) - time.monotonic()
    if hold > 0:
        return hold
    status: dict[str, Any] = {}
    deleting = bool(body["metadata"].get("deletionTimestamp"))
    if deleting and FINALIZER not in (body["metadata"].get("finalizers") or []):
        return None
    try:
        verdict = await (finalize if deleting else inner)(az, body, status)
    except Stop as stop:
        verdict = stop.verdict
    if verdict.outcome.reason == reasons.AZURE_FINALIZED:
        return None
    if verdict.outcome.reason in (reasons.AZURE_THROTTLED, reasons.AZURE_UNAVAILABLE) and verdict.requeue:
        az.holds[key] = time.monotonic() + verdict.requeue
    else:
        az.holds.pop(key, None)
    current = az.ctx.store.get(kind, namespace, name) or body
    await conclude(az.ctx, current, status, verdict.outcome, events=True)
    return verdict.requeue
