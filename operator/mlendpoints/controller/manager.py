"""The operator's runtime state: store, queue, context, and the routing of watch events to reconciles.

Handlers (``handlers.py``) stay thin: they hand every watch event to :meth:`Manager.observe`,
which updates the cache and enqueues the reconciles the change can affect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from mlendpoints.backends import azureml
from mlendpoints.backends.kubernetes import batch, deployment, endpoint, instancetype, monitor, references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients import resources
from mlendpoints.clients.kube import Kube
from mlendpoints.clients.store import Store
from mlendpoints.controller import metrics
from mlendpoints.controller.queue import Item, Result, WorkQueue
from mlendpoints.controller.settings import OperatorSettings

log = logging.getLogger(__name__)
BATCH_JOB_LABEL = "mlendpoints.io/batch-job"

MANAGED = "app.kubernetes.io/managed-by=mlendpoints-operator"
#: Kinds listed into the cache at startup (label selector for children we own).
PRIMED = (
    (resources.INSTANCE_TYPE, None),
    (resources.ONLINE_ENDPOINT, None),
    (resources.ONLINE_DEPLOYMENT, None),
    (resources.BATCH_ENDPOINT, None),
    (resources.BATCH_DEPLOYMENT, None),
    (resources.BATCH_JOB, None),
    (resources.MODEL_MONITOR, None),
    (resources.DEPLOYMENT, MANAGED),
    (resources.SERVICE, MANAGED),
    (resources.HPA, MANAGED),
    (resources.PDB, MANAGED),
    (resources.POD, MANAGED),
    (resources.INGRESS, MANAGED),
    (resources.NETWORK_POLICY, MANAGED),
    (resources.HTTPROUTE, MANAGED),
    (resources.GATEWAY, None),  # not ours: read for Programmed and addresses (endpoint Ready)
    (resources.JOB, MANAGED),
)
CHILD_OF_DEPLOYMENT = {
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Pod",
    "NetworkPolicy",
}
CHILD_OF_ENDPOINT = {"Secret", "HTTPRoute", "Ingress"}
#: Label of drift pods (render/monitor.py): their results belong to a ModelMonitor.
MONITOR_LABEL = "mlendpoints.io/monitor"


class Manager:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.settings = settings
        self.kube = kube
        self.store = Store()
        self.queue = WorkQueue(
            self._reconcile, workers=settings.workers, on_done=self._done, on_error=self._error
        )
        self.ctx = Context(
            kube=kube,
            store=self.store,
            render=settings.render_settings(),
            enqueue=self.queue.add,
            stall_after=settings.stall_after,
        )
        self._discovery: asyncio.Task[None] | None = None
        self.azure = azureml.Backend(self.ctx)

    async def start(self) -> None:
        self.ctx.gateway_api = await asyncio.to_thread(
            self.kube.has_resource, "gateway.networking.k8s.io/v1", "httproutes"
        )
        log.info("Gateway API %s", "available" if self.ctx.gateway_api else "not installed")
        await self._prime()
        self.queue.start()
        self._discovery = asyncio.create_task(self._watch_apis())

    async def _prime(self) -> None:
        """Fill the cache with one LIST per watched kind before the first reconcile.

        Without this, a reconcile right after a restart could run before the watch streams have
        delivered, say, an endpoint's deployments, and "fix" a route that was fine: writes on
        restart. Watch events that arrive meanwhile are kept when newer (see Store.prime).
        """
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        for kind, labels in PRIMED:
            if kind in (resources.HTTPROUTE, resources.GATEWAY) and not self.ctx.gateway_api:
                continue
            for ns in [None] if not kind.namespaced else namespaces:
                items = await asyncio.to_thread(self.kube.list, kind, ns, labels=labels)
                for item in items:
                    self.store.prime(kind.kind, item)
        log.info("cache primed: %s", {k.kind: self.store.count(k.kind) for k, _ in PRIMED})

    async def stop(self) -> None:
        if self._discovery is not None:
            self._discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._discovery
        await self.queue.stop()

    async def _watch_apis(self) -> None:
        while True:
            await asyncio.sleep(self.settings.api_discovery_interval)
            try:
                available = await asyncio.to_thread(
                    self.kube.has_resource, "gateway.networking.k8s.io/v1", "httproutes"
                )
            except Exception as exc:  # discovery hiccups must not kill the loop
                log.warning("API discovery failed: %s", exc)
                continue
            if available != self.ctx.gateway_api:
                self.ctx.gateway_api = available
                for ep in self.store.all("OnlineEndpoint"):
                    self.queue.add(("OnlineEndpoint", ep["metadata"]["namespace"], ep["metadata"]["name"]))

    # -- events -------------------------------------------------------------------------------
    def observe(self, kind: str, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name", "")
        if namespace and self.settings.namespaces and namespace not in self.settings.namespaces:
            return  # confined: objects elsewhere are neither cached nor reconciled
        old = self.store.get(kind, namespace, name)
        if event_type == "DELETED":
            self.store.remove(kind, namespace, name)
            obj: Mapping[str, Any] = body
        else:
            obj = self.store.upsert(kind, body)
        metrics.WATCHED.labels(kind).set(self.store.count(kind))
        add = self.queue.add
        labels = meta.get("labels") or {}
        if kind == "OnlineEndpoint":
            add(("OnlineEndpoint", namespace, name))
            for other in references.same_host(self.store, obj, old):  # a host freed or claimed
                add(("OnlineEndpoint", other["metadata"]["namespace"], other["metadata"]["name"]))
            if old is None or (old.get("spec") != obj.get("spec")) or event_type == "DELETED":
                for dep in self.store.by_label(
                    "OnlineDeployment", namespace, "mlendpoints.io/endpoint", name
                ):
                    add(("OnlineDeployment", namespace, dep["metadata"]["name"]))
        elif kind == "OnlineDeployment":
            if event_type != "DELETED":
                add(("OnlineDeployment", namespace, name))
            ep = (obj.get("spec") or {}).get("endpointName")
            if ep:
                add(("OnlineEndpoint", namespace, ep))
            for mon in self.store.in_namespace("ModelMonitor", namespace):
                if (mon.get("spec") or {}).get("deploymentName") == name:
                    add(("ModelMonitor", namespace, mon["metadata"]["name"]))
        elif kind == "ModelMonitor":
            add(("ModelMonitor", namespace, name))
        elif kind == "Pod" and labels.get(MONITOR_LABEL):
            add(("ModelMonitor", namespace, labels[MONITOR_LABEL]))
        elif kind == "InstanceType":
            if event_type != "DELETED":
                add(("InstanceType", "", name))
            for ns, user in instancetype.users(self.ctx, name):
                add(("OnlineDeployment", ns, user))
            for bdep in self.store.all("BatchDeployment"):
                if (bdep.get("spec") or {}).get("instanceType") == name:
                    add(("BatchDeployment", bdep["metadata"]["namespace"], bdep["metadata"]["name"]))
        elif kind == "BatchEndpoint":
            add(("BatchEndpoint", namespace, name))
            for job in self.store.in_namespace("BatchJob", namespace):
                if (job.get("spec") or {}).get("endpointName") == name:
                    add(("BatchJob", namespace, job["metadata"]["name"]))
        elif kind == "BatchDeployment":
            add(("BatchDeployment", namespace, name))
            ep = (obj.get("spec") or {}).get("endpointName")
            if ep:
                add(("BatchEndpoint", namespace, ep))
            # Endpoints naming it as their default judge it too (e.g. it belongs to another endpoint).
            for bep in self.store.in_namespace("BatchEndpoint", namespace):
                if ((bep.get("spec") or {}).get("defaults") or {}).get("deploymentName") == name:
                    add(("BatchEndpoint", namespace, bep["metadata"]["name"]))
            for job in self.store.in_namespace("BatchJob", namespace):
                add(("BatchJob", namespace, job["metadata"]["name"]))
        elif kind == "BatchJob":
            if event_type != "DELETED":
                add(("BatchJob", namespace, name))
        elif kind == "ConfigMap":
            for ns, user in self._batch_users("ConfigMap", namespace, name):
                add(("BatchDeployment", ns, user))
            for dep in self.store.in_namespace("OnlineDeployment", namespace):
                code = (dep.get("spec") or {}).get("codeConfiguration") or {}
                if (code.get("configMap") or {}).get("name") == name:
                    add(("OnlineDeployment", namespace, dep["metadata"]["name"]))
        elif kind == "Gateway":
            for ep_ns, ep_name in endpoint.gateway_users(self.ctx, namespace, name):
                add(("OnlineEndpoint", ep_ns, ep_name))
        elif kind in ("Job", "Pod") and labels.get(BATCH_JOB_LABEL):
            add(("BatchJob", namespace, labels[BATCH_JOB_LABEL]))
        elif kind == "PersistentVolumeClaim":
            for ns, user in self._batch_users("PersistentVolumeClaim", namespace, name):
                add(("BatchDeployment", ns, user))
            for job in self.store.in_namespace("BatchJob", namespace):
                add(("BatchJob", namespace, job["metadata"]["name"]))
        elif kind in CHILD_OF_DEPLOYMENT and labels.get("mlendpoints.io/deployment"):
            add(("OnlineDeployment", namespace, labels["mlendpoints.io/deployment"]))
            if kind == "Deployment" and labels.get("mlendpoints.io/endpoint"):
                # Available pods decide the traffic split (endpoint.py), not only the Ready condition.
                add(("OnlineEndpoint", namespace, labels["mlendpoints.io/endpoint"]))
        elif kind in CHILD_OF_ENDPOINT and labels.get("mlendpoints.io/endpoint"):
            add(("OnlineEndpoint", namespace, labels["mlendpoints.io/endpoint"]))
        metrics.QUEUE_DEPTH.set(self.queue.depth())

    def _batch_users(self, kind: str, namespace: str, name: str) -> list[tuple[str, str]]:
        """BatchDeployments whose model/code claim (PersistentVolumeClaim) or code ConfigMap is ``name``."""
        out = []
        for bdep in self.store.in_namespace("BatchDeployment", namespace):
            spec = bdep.get("spec") or {}
            code = spec.get("codeConfiguration") or {}
            if kind == "ConfigMap":
                hit = (code.get("configMap") or {}).get("name") == name
            else:
                uris = [(spec.get("model") or {}).get("path") or "", code.get("code") or ""]
                hit = any(u.startswith(f"pvc://{name}/") or u == f"pvc://{name}" for u in uris)
            if hit:
                out.append((namespace, bdep["metadata"]["name"]))
        return out

    def watches_pvc(self, namespace: str, name: str) -> bool:
        """Whether a batch resource refers to the claim (only those claims' events are watched)."""
        if self._batch_users("PersistentVolumeClaim", namespace, name):
            return True
        for job in self.store.in_namespace("BatchJob", namespace):
            spec = job.get("spec") or {}
            uris = [i.get("path", "") for i in (spec.get("inputs") or {}).values()]
            uris.append((spec.get("output") or {}).get("path", ""))
            if any(u.startswith(f"pvc://{name}/") or u == f"pvc://{name}" for u in uris):
                return True
        return False

    def watches_configmap(self, namespace: str, name: str) -> bool:
        if self._batch_users("ConfigMap", namespace, name):
            return True
        for dep in self.store.in_namespace("OnlineDeployment", namespace):
            code = (dep.get("spec") or {}).get("codeConfiguration") or {}
            if (code.get("configMap") or {}).get("name") == name:
                return True
        return False

    # -- reconciles ---------------------------------------------------------------------------
    async def _reconcile(self, item: Item) -> Result | None:
        kind, namespace, name = item
        if azureml.handles(self.store, kind, namespace, name):
            return Result(requeue_after=await self.azure.reconcile(kind, namespace, name))
        if kind == "OnlineDeployment":
            await deployment.reconcile(self.ctx, namespace, name)
        elif kind == "OnlineEndpoint":
            await endpoint.reconcile(self.ctx, namespace, name)
        elif kind == "InstanceType":
            await instancetype.reconcile(self.ctx, name)
        elif kind == "BatchEndpoint":
            await batch.reconcile_endpoint(self.ctx, namespace, name)
        elif kind == "BatchDeployment":
            await batch.reconcile_deployment(self.ctx, namespace, name)
        elif kind == "BatchJob":
            await batch.reconcile_job(self.ctx, namespace, name)
        elif kind == "ModelMonitor":
            await monitor.reconcile(self.ctx, namespace, name)
        return None

    def _done(self, item: Item, seconds: float, ok: bool) -> None:
        metrics.RECONCILES.labels(item[0], "ok" if ok else "error").inc()
        metrics.RECONCILE_SECONDS.labels(item[0]).observe(seconds)
        metrics.QUEUE_DEPTH.set(self.queue.depth())

    def _error(self, item: Item, exc: BaseException) -> None:
        log.debug("reconcile error for %s", item, exc_info=exc)
