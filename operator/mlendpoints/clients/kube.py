"""A thin, synchronous Kubernetes REST client: server-side apply, status patches, reads, Events.

Built on ``kubernetes.client.ApiClient`` for its kubeconfig/in-cluster auth and connection pool,
but with our own calls: one ``apply`` (SSA with a field manager, ``force`` because the operator
owns its children's fields) and JSON merge patches for status. Callers run it in a thread
(``asyncio.to_thread``) from kopf's event loop. Every write is counted by kind and verb for the
operator's metrics, which is also how tests and benchmarks see write amplification.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from prometheus_client import Histogram

from mlendpoints.clients import resources
from mlendpoints.clients.resources import Kind

log = logging.getLogger(__name__)

FIELD_MANAGER = "mlendpoints-operator"
#: Connections kept to the API server; the operator runs as many blocking calls at once
#: (``Manager``'s thread pool), so concurrent reconciles never queue for a connection.
POOL_SIZE = 32
#: client-go's ``rest_client_request_duration_seconds``: where a slow reconcile waits.
API_SECONDS = Histogram(
    "mlendpoints_api_request_duration_seconds",
    "Duration of one Kubernetes API request, by HTTP method",
    ["verb"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class Conflict(Exception):
    """A write lost a race (409); the caller requeues."""


class OutOfScope(PermissionError):
    """A namespaced call outside the namespaces the operator is confined to (never sent)."""


class Rejected(ApiException):
    """The API server refused an object as invalid (400/422): retrying the same object cannot help."""

    def message(self) -> str:
        try:
            return str(json.loads(self.body or "{}").get("message") or self.reason)
        except ValueError:
            return str(self.body or self.reason)


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """In-cluster config when running in a pod, else the kubeconfig (``KUBECONFIG`` or ~/.kube/config).

    ``KUBECONFIG`` is read now: the kubernetes client reads it once, when it is first imported, so a
    process whose environment changed since (a CLI run in-process, a test) would use a stale path.
    """
    cfg = client.Configuration()
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
    try:
        if kubeconfig:
            raise config.ConfigException("explicit kubeconfig")
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
    cfg.connection_pool_maxsize = POOL_SIZE
    return client.ApiClient(cfg)


class Kube:
    """The operator's API access. Thread-safe; one instance per process.

    With ``namespaces`` (the operator is confined to them), every call on a namespaced kind must
    name one of them: a cluster-wide LIST or a call into any other namespace raises
    :class:`OutOfScope` before a request is made. Cluster-scoped kinds (InstanceTypes) are unaffected.
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        field_manager: str = FIELD_MANAGER,
        namespaces: Iterable[str] = (),
    ) -> None:
        self.api = api
        self.field_manager = field_manager
        self.namespaces = frozenset(namespaces)
        self.writes: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def in_scope(self, kind: Kind, namespace: str | None) -> bool:
        """Whether a call on ``kind`` in ``namespace`` (None: all namespaces) is allowed."""
        return not (self.namespaces and kind.namespaced and namespace not in self.namespaces)

    def _scope(self, kind: Kind, namespace: str | None) -> None:
        if not self.in_scope(kind, namespace):
            where = f"namespace {namespace!r}" if namespace else "all namespaces"
            raise OutOfScope(
                f"{kind.kind} in {where}: the operator is confined to {', '.join(sorted(self.namespaces))}"
            )

    # -- low level -----------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        method, url, headers, payload, post = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        with API_SECONDS.labels(method).time():
            resp = self.api.call_api(
                method, url, header_params=headers, body=payload, post_params=post, _request_timeout=30
            )
            data: bytes = resp.read()  # type: ignore[no-untyped-call]
        if resp.status in (400, 422):
            raise Rejected(
                status=resp.status, reason=resp.reason, body=data.decode(errors="replace") if data else None
            )
        if not 200 <= resp.status < 300:
            raise ApiException(
                status=resp.status, reason=resp.reason, body=data.decode(errors="replace") if data else None
            )
        return json.loads(data) if data else {}

    def _count(self, verb: str, kind: str) -> None:
        with self._lock:
            self.writes[(verb, kind)] += 1

    # -- reads ---------------------------------------------------------------------------------
    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        self._scope(kind, namespace)
        try:
            result: dict[str, Any] = self._call("GET", kind.path(namespace, name))
            return result
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pages(
        self, kind: Kind, namespace: str | None = None, *, labels: str | None = None, limit: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The objects of a LIST, one page of at most ``limit`` objects at a time (None: one page).

        A paged LIST (``limit`` and ``continue``, the API's chunking, which serves every page from
        one consistent snapshot) bounds what the caller holds at once to one page's JSON and
        dicts; one LIST of 13,000 objects is tens of MiB of JSON and several times that parsed.
        Items get the ``apiVersion`` and ``kind`` a LIST leaves out. A 404 (kind not served) is
        no page at all. An expired continue token (410: etcd compacted the snapshot, after about
        5 minutes) starts the LIST over, so a paged caller can see an object twice, the second
        time in a newer version.

        Raises:
            OutOfScope: a namespaced kind outside the operator's namespaces.
            ApiException: any other error of the API server.
        """
        self._scope(kind, namespace)
        query = [("labelSelector", labels)] if labels else []
        if limit:
            query.append(("limit", str(limit)))
        token = ""
        while True:
            try:
                result = self._call(
                    "GET", kind.path(namespace), query=[*query, *([("continue", token)] if token else [])]
                )
            except ApiException as exc:
                if exc.status == 404:
                    return
                if exc.status == 410 and token:  # the snapshot was compacted away: start over
                    token = ""
                    continue
                raise
            items: list[dict[str, Any]] = result.get("items") or []
            for item in items:  # lists omit apiVersion/kind on items
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
            token = (result.get("metadata") or {}).get("continue") or ""
            del result  # hold one page only, not the previous response while the next arrives
            yield items
            if not token:
                return

    def list(
        self, kind: Kind, namespace: str | None = None, *, labels: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object of ``kind`` (in ``namespace``; None: all) matching ``labels``, in one LIST."""
        return [item for page in self.pages(kind, namespace, labels=labels) for item in page]

    def has_resource(self, api_version: str, plural: str) -> bool:
        """Whether the API server serves ``plural`` in ``api_version`` (e.g. Gateway API CRDs installed)."""
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            result = self._call("GET", base)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return any(r.get("name") == plural for r in result.get("resources", []))

    # -- writes --------------------------------------------------------------------------------
    def apply(self, obj: dict[str, Any], *, field_manager: str | None = None) -> dict[str, Any]:
        """Server-side apply ``obj`` as our field manager (force: we own these fields)."""
        kind = resources.of(obj)
        meta = obj["metadata"]
        self._scope(kind, meta.get("namespace"))
        self._count("apply", kind.kind)
        try:
            result: dict[str, Any] = self._call(
                "PATCH",
                kind.path(meta.get("namespace"), meta["name"]),
                query=[("fieldManager", field_manager or self.field_manager), ("force", "true")],
                body=obj,
                content_type="application/apply-patch+yaml",
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(str(exc.reason)) from exc
            raise
        return result

    def delete(self, kind: Kind, namespace: str | None, name: str, *, uid: str | None = None) -> bool:
        """Delete (background propagation); with ``uid``, only that incarnation. False if gone."""
        self._scope(kind, namespace)
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        self._count("delete", kind.kind)
        try:
            self._call("DELETE", kind.path(namespace, name), body=body, content_type="application/json")
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise
        return True

    def patch_status(
        self, kind: Kind, namespace: str | None, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource (lists such as conditions are replaced whole)."""
        self._scope(kind, namespace)
        self._count("patch_status", kind.kind)
        result: dict[str, Any] = self._call(
            "PATCH",
            kind.path(namespace, name, "status"),
            body={"status": status},
            content_type="application/merge-patch+json",
        )
        return result

    def patch(self, kind: Kind, namespace: str | None, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch of the main resource (metadata only: owner references, annotations)."""
        self._scope(kind, namespace)
        self._count("patch", kind.kind)
        result: dict[str, Any] = self._call(
            "PATCH", kind.path(namespace, name), body=patch, content_type="application/merge-patch+json"
        )
        return result

    def json_patch(
        self, kind: Kind, namespace: str | None, name: str, ops: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """RFC 6902 JSON Patch of the main resource (removing entries other managers added)."""
        self._scope(kind, namespace)
        self._count("patch", kind.kind)
        try:
            result: dict[str, Any] = self._call(
                "PATCH",
                kind.path(namespace, name),
                body=[dict(op) for op in ops],
                content_type="application/json-patch+json",
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(str(exc.reason)) from exc
            raise
        return result

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = resources.of(obj)
        self._scope(kind, obj["metadata"].get("namespace"))
        self._count("create", kind.kind)
        result: dict[str, Any] = self._call(
            "POST", kind.path(obj["metadata"].get("namespace")), body=obj, content_type="application/json"
        )
        return result

    def event(
        self,
        involved: dict[str, Any],
        *,
        type: str,
        reason: str,
        message: str,
        component: str = FIELD_MANAGER,
    ) -> None:
        """Record a core/v1 Event on ``involved`` (best effort: Events never fail a reconcile)."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        if not self.in_scope(resources.EVENT, namespace):
            # e.g. an InstanceType's Event (cluster-scoped objects' Events go to "default")
            log.info(
                "%s %s: %s: %s (no Event: %s is not watched)",
                involved["kind"],
                meta["name"],
                reason,
                message,
                namespace,
            )
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "type": type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
        }
        try:
            self.create(event)
        except ApiException as exc:
            log.warning(
                "could not record event %s on %s: %s %s",
                reason,
                meta["name"],
                exc.status,
                exc.body or exc.reason,
            )
