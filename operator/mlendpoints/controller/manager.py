"""The operator's runtime state: store, queue, context, and the routing of watch events to reconciles.

Handlers (``handlers.py``) stay thin: they hand every watch event to :meth:`Manager.observe`,
which updates the cache and enqueues the reconciles the change can affect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlendpoints.backends import azureml
from mlendpoints.backends.kubernetes import batch, deployment, endpoint, instancetype, monitor
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients import kube as kube_client
from mlendpoints.clients.kube import Kube
from mlendpoints.clients.store import Store
from mlendpoints.controller import metrics, watches
from mlendpoints.controller.queue import Item, Result, WorkQueue
from mlendpoints.controller.settings import OperatorSettings

log = logging.getLogger(__name__)

#: Objects per page of the LISTs that prime the cache (and of kopf's initial listings,
#: ``handlers.startup``): small enough that a page of Deployments is about 2 MiB of JSON, large
#: enough that 13,000 objects take about 50 requests.
PAGE = 250


class Manager:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.settings = settings
        self.kube = kube
        self.store = Store(watches.cached(), field_manager=kube.field_manager)
        self.queue = WorkQueue(
            self._reconcile,
            workers=settings.workers,
            on_done=self._done,
            on_error=self._error,
            on_start=lambda item, waited: metrics.QUEUE_WAIT_SECONDS.labels(item[0]).observe(waited),
        )
        self.executor = ThreadPoolExecutor(kube_client.POOL_SIZE, thread_name_prefix="kube")
        self.ctx = Context(
            kube=kube,
            store=self.store,
            render=settings.render_settings(),
            enqueue=self.queue.add,
            stall_after=settings.stall_after,
            gateway_probe=settings.gateway_probe,
            executor=self.executor,
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
        """Fill the cache with one paged LIST per watched kind before the first reconcile.

        Without this, a reconcile right after a restart could run before the watch streams have
        delivered, say, an endpoint's deployments, and "fix" a route that was fine: writes on
        restart. Watch events that arrive meanwhile are kept when newer (see Store.prime). Pages of
        :data:`PAGE` objects: the peak is one page's JSON and dicts, not a whole kind's (at 1,000
        endpoints, 2,000 Deployments are about 20 MiB of JSON, 130 MiB parsed).
        """
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        primed = [w for w in watches.TABLE if w.cached and (self.ctx.gateway_api or not w.gateway_api)]
        for watch in primed:
            for ns in [None] if not watch.kind.namespaced else namespaces:
                await self._prime_kind(watch, ns)
        log.info("cache primed: %s", {w.kind.kind: self.store.count(w.kind.kind) for w in primed})

    async def _prime_kind(self, watch: watches.Watch, namespace: str | None) -> None:
        """One kind (in one namespace, or all), page by page; fetched in a thread, cached here."""
        pages = self.kube.pages(watch.kind, namespace, labels=watch.label_selector, limit=PAGE)
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            for item in page:
                self.store.prime(watch.kind.kind, item)

    async def stop(self) -> None:
        if self._discovery is not None:
            self._discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._discovery
        await self.queue.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)

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
        """Update the cache with one watch event and enqueue the reconciles the table maps it to."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name", "")
        if namespace and self.settings.namespaces and namespace not in self.settings.namespaces:
            return  # confined: objects elsewhere are neither cached nor reconciled
        old = self.store.get(kind, namespace, name)
        obj: Mapping[str, Any] = body
        if event_type == "DELETED":
            self.store.remove(kind, namespace, name)
            self.ctx.forget_object((kind, namespace, name))
            if kind == "OnlineEndpoint":
                self.ctx.forget(namespace, name)
        elif kind in self.store.kinds:
            obj = self.store.upsert(kind, body)
        metrics.WATCHED.labels(kind).set(self.store.count(kind))
        event = watches.Event(kind, event_type, namespace, name, obj, old)
        # Pods are not ours to converge (their ReplicaSet's): they only feed a rollout's status.
        status_only = kind == "Pod" or event.status_only()
        for item in watches.enqueues(self.ctx, event):
            if not status_only:
                self.ctx.changed(item)
            self.queue.add(item)
        metrics.QUEUE_DEPTH.set(self.queue.depth())

    def referenced(self, kind: str, namespace: str, name: str) -> bool:
        """Whether an object of an uncached, filtered kind (ConfigMap, PVC) is named by a resource."""
        watch = watches.BY_KIND[kind]
        return watch.referenced is None or watch.referenced(self.ctx, namespace, name)

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
