"""The Azure ML backend: target-azureml resources reconciled into Azure ML through azure-ai-ml.

Entry points for the controller: :func:`handles` (is this work item ours?) and
:class:`Backend` (run it; returns the requeue delay). See docs/azureml.md.
"""

from __future__ import annotations

from mlendpoints.api.v1alpha1.base import on_kubernetes
from mlendpoints.backends.azureml import batch, online
from mlendpoints.backends.azureml.common import FINALIZER, Azure, AzureSettings, Inner, run
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients.store import Store

#: Kind -> (reconcile, finalize).
HANDLERS: dict[str, tuple[Inner, Inner]] = {
    "OnlineEndpoint": (online.reconcile_endpoint, online.finalize_endpoint),
    "OnlineDeployment": (online.reconcile_deployment, online.finalize_deployment),
    "BatchEndpoint": (batch.reconcile_endpoint, batch.finalize_endpoint),
    "BatchDeployment": (batch.reconcile_deployment, batch.finalize_deployment),
    "BatchJob": (batch.reconcile_job, batch.reconcile_job),
}
#: Kinds whose target is their endpoint's.
PARENT = {
    "OnlineDeployment": "OnlineEndpoint",
    "BatchDeployment": "BatchEndpoint",
    "BatchJob": "BatchEndpoint",
}


def handles(store: Store, kind: str, namespace: str, name: str) -> bool:
    """Whether the cached object (or, for deployments and jobs, its endpoint) has target azureml."""
    if kind not in HANDLERS:
        return False
    body = store.get(kind, namespace, name)
    if body is None:
        return False
    if FINALIZER in (body["metadata"].get("finalizers") or []):
        return True  # ours to clean up, even when its endpoint is already gone
    if kind in PARENT:
        endpoint = (body.get("spec") or {}).get("endpointName")
        body = store.get(PARENT[kind], namespace, endpoint) if endpoint else None
        if body is None:
            return False
    return not on_kubernetes((body.get("spec") or {}).get("target"))


class Backend:
    def __init__(self, ctx: Context, settings: AzureSettings | None = None) -> None:
        self.azure = Azure(ctx, settings or AzureSettings.from_env())

    async def reconcile(self, kind: str, namespace: str, name: str) -> float | None:
        inner, finalize = HANDLERS[kind]
        return await run(self.azure, kind, namespace, name, inner, finalize)


__all__ = ["AzureSettings", "Backend", "handles"]
