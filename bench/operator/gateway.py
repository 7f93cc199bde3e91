"""The tests' stand-in Gateway controller, driven by watches instead of ``kubectl`` polling.

``tests/integration/fakegateway.py`` polls every 0.5 s with one ``kubectl get`` per watched
namespace and kind; on a shared 2-core machine a sweep over 20 namespaces takes seconds, and
that time lands inside the operator's "apply -> Ready" while the floor (no gateway) never pays
it. This controller writes exactly the same status (it reuses the stand-in's ``_sync_gateway``
and ``_sync_route``), but reacts to each watch event at once, over one API connection, in every
namespace. The benchmark runs it for both the operator and the floor, whose HTTPRoutes are then
Accepted by the same controller, so the ratio measures the operator and not the stand-in.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, watch
from tests.integration.fakegateway import CLASS, FakeGatewayController, gateway_class

from mlendpoints.clients import resources
from mlendpoints.clients.kube import Kube

GROUP, VERSION = "gateway.networking.k8s.io", "v1"


class WatchingGateway(FakeGatewayController):
    """Accepts HTTPRoutes and programs Gateways of class ``fake``, in all namespaces, per watch event.

    Args:
        cluster: The ``LocalCluster`` (its ``apply`` installs the GatewayClass).
        kube: Client for the watches and the status patches (thread-safe).
    """

    def __init__(self, cluster: Any, kube: Kube) -> None:
        super().__init__(cluster, [])
        self.kube = kube
        self._gateways: dict[tuple[str, str], dict[str, Any]] = {}
        self._routes: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        # status patches in parallel (a real controller does not answer 1,000 routes one by one);
        # each job syncs the route's latest version, so a late job never writes an older one
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="gw-patch")
        self._threads = [
            threading.Thread(target=self._loop, args=(p,), name=f"gw-{p}", daemon=True)
            for p in ("gateways", "httproutes")
        ]

    def start(self) -> WatchingGateway:
        self.cluster.apply(gateway_class())
        for t in self._threads:
            t.start()
        return self

    def watch(self, namespace: str) -> None:
        """All namespaces are watched; kept for the polling controller's interface."""

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _patch_status(self, kind: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        what = resources.GATEWAY if kind == "gateway" else resources.HTTPROUTE
        try:
            self.kube.patch_status(what, meta["namespace"], meta["name"], status)
        except Exception as exc:  # deleted meanwhile; the next event corrects anything else
            self.errors.append(repr(exc))

    def _loop(self, plural: str) -> None:
        api = client.CustomObjectsApi(self.kube.api)
        while not self._stop.is_set():
            try:
                listed = api.list_cluster_custom_object(GROUP, VERSION, plural)
                for item in listed["items"]:
                    self._on(plural, "ADDED", item)
                stream = watch.Watch().stream(
                    api.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    plural,
                    resource_version=listed["metadata"]["resourceVersion"],
                    timeout_seconds=60,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    self._on(plural, event["type"], event["object"])
            except Exception as exc:  # expired resourceVersion, connection reset: list again
                self.errors.append(repr(exc))

    def _on(self, plural: str, type_: str, obj: dict[str, Any]) -> None:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        with self._lock:
            if plural == "gateways":
                if type_ == "DELETED" or obj["spec"].get("gatewayClassName") != CLASS:
                    self._gateways.pop(key, None)
                    return
                new = key not in self._gateways
                self._gateways[key] = obj
                self._sync_gateway(obj)
                pending = list(self._routes.values()) if new else []  # routes that came first
            else:
                if type_ == "DELETED":
                    self._routes.pop(key, None)
                    return
                self._routes[key] = obj
                pending = [obj]
        for route in pending:
            self._pool.submit(self._sync_latest, (route["metadata"]["namespace"], route["metadata"]["name"]))

    def _sync_latest(self, key: tuple[str, str]) -> None:
        with self._lock:
            route, gateways = self._routes.get(key), dict(self._gateways)
        if route is not None:
            self._sync_route(route, gateways)
