"""An in-memory view of the objects the operator watches (an informer cache).

kopf's watch streams call :meth:`Store.upsert`/``remove``; reconcilers read from here instead of
the API server. A miss is not proof of absence (the initial listing may still be running), so
reconcilers fall back to a GET before creating anything.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

Key = tuple[str, str]  # (namespace or "", name)
Body = dict[str, Any]


def _rv(body: Mapping[str, Any]) -> int:
    try:
        return int(body.get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:  # resourceVersions are opaque; etcd's are integers, others compare as equal
        return 0


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata", {})
    return (meta.get("namespace") or "", meta["name"])


class Store:
    """Objects by kind and (namespace, name), plus the secondary indexes reconcilers need."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[Key, Body]] = defaultdict(dict)
        # (kind, namespace, owner-label value) -> keys, for children and deployments-by-endpoint
        self._by_label: dict[tuple[str, str, str, str], set[Key]] = defaultdict(set)

    #: labels indexed for fast lookups
    INDEXED_LABELS = (
        "mlendpoints.io/deployment",
        "mlendpoints.io/endpoint",
        "mlendpoints.io/owner-uid",
        "mlendpoints.io/monitor",  # drift pods, read by the ModelMonitor reconciler
        "mlendpoints.io/batch-job",  # a BatchJob's Job and pods
    )

    def upsert(self, kind: str, body: Mapping[str, Any]) -> Body:
        obj: Body = copy.deepcopy(dict(body))
        key = key_of(obj)
        old = self._objects[kind].get(key)
        if old is not None:
            self._unindex(kind, key, old)
        self._objects[kind][key] = obj
        self._index(kind, key, obj)
        return obj

    def prime(self, kind: str, body: Mapping[str, Any]) -> None:
        """Insert an object from an initial LIST unless the watch already delivered a newer one."""
        key = key_of(body)
        old = self._objects[kind].get(key)
        if old is not None and _rv(old) >= _rv(body):
            return
        self.upsert(kind, body)

    def remove(self, kind: str, namespace: str | None, name: str) -> None:
        key = (namespace or "", name)
        old = self._objects[kind].pop(key, None)
        if old is not None:
            self._unindex(kind, key, old)

    def get(self, kind: str, namespace: str | None, name: str) -> Body | None:
        return self._objects[kind].get((namespace or "", name))

    def all(self, kind: str) -> Iterator[Body]:
        return iter(list(self._objects[kind].values()))

    def in_namespace(self, kind: str, namespace: str) -> Iterator[Body]:
        return iter([o for (ns, _), o in self._objects[kind].items() if ns == namespace])

    def by_label(self, kind: str, namespace: str, label: str, value: str) -> list[Body]:
        keys = self._by_label.get((kind, namespace, label, value), set())
        return [self._objects[kind][k] for k in sorted(keys) if k in self._objects[kind]]

    def count(self, kind: str) -> int:
        return len(self._objects[kind])

    def _labels_of(self, kind: str, obj: Body) -> dict[str, str]:
        labels = dict(obj.get("metadata", {}).get("labels") or {})
        if kind == "OnlineDeployment":  # index deployments by the endpoint they name
            endpoint = (obj.get("spec") or {}).get("endpointName")
            if endpoint:
                labels["mlendpoints.io/endpoint"] = endpoint
        return labels

    def _index(self, kind: str, key: Key, obj: Body) -> None:
        labels = self._labels_of(kind, obj)
        for label in self.INDEXED_LABELS:
            if label in labels:
                self._by_label[(kind, key[0], label, labels[label])].add(key)

    def _unindex(self, kind: str, key: Key, obj: Body) -> None:
        labels = self._labels_of(kind, obj)
        for label in self.INDEXED_LABELS:
            if label in labels:
                self._by_label[(kind, key[0], label, labels[label])].discard(key)
