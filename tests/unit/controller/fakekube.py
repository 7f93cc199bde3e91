"""An in-memory stand-in for :class:`mlendpoints.clients.kube.Kube` (the operator's only API access).

It keeps objects by (kind, namespace, name), assigns uids and resourceVersions, applies by
replacing the fields given (a coarse server-side apply: every applied field is ours), merges
status patches, and counts writes by (verb, kind) exactly like ``Kube`` does.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

from mlendpoints.clients import resources
from mlendpoints.clients.kube import FIELD_MANAGER
from mlendpoints.clients.resources import Kind

Obj = dict[str, Any]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeKube:
    field_manager = FIELD_MANAGER

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.writes: Counter[tuple[str, str]] = Counter()
        self.events: list[tuple[str, str]] = []
        self.reads: Counter[str] = Counter()  # GETs by kind
        self._rv = itertools.count(1)

    # -- helpers for tests ------------------------------------------------------------------------
    def put(self, obj: Obj) -> Obj:
        """Create ``obj`` as another client would (no write counted); returns the stored copy."""
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{meta['name']}-{next(self._rv)}")
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[(stored["kind"], meta.get("namespace") or "", meta["name"])] = stored
        return copy.deepcopy(stored)

    def edit(self, kind: str, namespace: str, name: str) -> Obj:
        """The stored object, to change in place as a hand edit would; with a new resourceVersion,
        as the API server gives every change (the operator's cache skips a version it holds)."""
        obj = self.objects[(kind, namespace, name)]
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return obj

    def find(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((kind, namespace, name))

    # -- the Kube interface -----------------------------------------------------------------------
    def has_resource(self, api_version: str, plural: str) -> bool:
        return False

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        self.reads[kind.kind] += 1
        found = self.objects.get((kind.kind, namespace or "", name))
        return copy.deepcopy(found) if found is not None else None

    def list(self, kind: Kind, namespace: str | None = None, *, labels: str | None = None) -> list[Obj]:
        want = dict(p.split("=", 1) for p in labels.split(",")) if labels else {}
        out = []
        for (k, ns, _), obj in self.objects.items():
            have = obj["metadata"].get("labels") or {}
            if (
                k == kind.kind
                and (namespace is None or ns == namespace)
                and all(have.get(a) == b for a, b in want.items())
            ):
                out.append(copy.deepcopy(obj))
        return out

    def pages(
        self, kind: Kind, namespace: str | None = None, *, labels: str | None = None, limit: int | None = None
    ) -> Iterator[list[Obj]]:
        """:meth:`list` in pages of ``limit`` objects (None: one page), as ``Kube.pages``."""
        items = self.list(kind, namespace, labels=labels)
        size = limit or max(len(items), 1)
        for start in range(0, len(items), size):
            yield items[start : start + size]

    def apply(self, obj: Obj, *, field_manager: str | None = None) -> Obj:
        kind = resources.of(obj)
        self.writes[("apply", kind.kind)] += 1
        meta = obj["metadata"]
        key = (kind.kind, meta.get("namespace") or "", meta["name"])
        current = self.objects.get(key)
        merged = copy.deepcopy(current) if current is not None else {"metadata": {}}
        for field, value in obj.items():
            if field == "metadata":
                merged["metadata"].update(copy.deepcopy(value))
            else:
                merged[field] = copy.deepcopy(value)
        merged["metadata"]["managedFields"] = [{"manager": field_manager or self.field_manager}]
        if current is None:
            return self.put(merged)
        merged["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[key] = merged
        return copy.deepcopy(merged)

    def delete(self, kind: Kind, namespace: str | None, name: str, *, uid: str | None = None) -> bool:
        self.writes[("delete", kind.kind)] += 1
        key = (kind.kind, namespace or "", name)
        found = self.objects.get(key)
        if found is None or (uid is not None and found["metadata"].get("uid") != uid):
            return False
        del self.objects[key]
        return True

    def patch_status(self, kind: Kind, namespace: str | None, name: str, status: Obj) -> Obj:
        self.writes[("patch_status", kind.kind)] += 1
        obj = self.objects[(kind.kind, namespace or "", name)]
        obj["status"] = merge_patch(obj.get("status") or {}, status)
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(obj)

    def patch(self, kind: Kind, namespace: str | None, name: str, patch: Obj) -> Obj:
        self.writes[("patch", kind.kind)] += 1
        obj = self.objects[(kind.kind, namespace or "", name)]
        obj["metadata"].update(copy.deepcopy(patch.get("metadata") or {}))
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(obj)

    def json_patch(self, kind: Kind, namespace: str | None, name: str, ops: list[Obj]) -> Obj:
        """RFC 6902, the ``test`` and ``remove`` operations only (what the operator sends)."""
        self.writes[("patch", kind.kind)] += 1
        obj = copy.deepcopy(self.objects[(kind.kind, namespace or "", name)])
        for op in ops:
            *parents, last = [int(p) if p.isdigit() else p for p in op["path"].strip("/").split("/")]
            node: Any = obj
            for part in parents:
                node = node[part]
            if op["op"] == "test" and node[last] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
            if op["op"] == "remove":
                del node[last]
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[(kind.kind, namespace or "", name)] = obj
        return copy.deepcopy(obj)

    def event(self, involved: Obj, *, type: str, reason: str, message: str) -> None:
        self.events.append((reason, message))
