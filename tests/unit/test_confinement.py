"""A confined operator's cache and queue hold only its namespaces (the API is faked at the client).

The real-cluster proof, with the audit log, is tests/chart/test_namespaced_operator.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from mlendpoints.clients.resources import Kind
from mlendpoints.controller import watches
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings


class RecordingKube:
    """Answers LISTs with one object per namespace it is asked about; records every call."""

    field_manager = "test"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.writes: dict[Any, int] = {}

    def has_resource(self, api_version: str, plural: str) -> bool:
        return False

    def list(
        self, kind: Kind, namespace: str | None = None, *, labels: str | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append((kind.plural, namespace))
        ns = namespace or "elsewhere"
        meta: dict[str, Any] = {"name": f"x-{ns}", "resourceVersion": "1"}
        if kind.namespaced:
            meta["namespace"] = ns
        return [{"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta}]

    def pages(
        self, kind: Kind, namespace: str | None = None, *, labels: str | None = None, limit: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        yield self.list(kind, namespace, labels=labels)


def test_confined_manager_lists_and_keeps_only_its_namespaces() -> None:
    kube = RecordingKube()
    manager = Manager(kube, OperatorSettings(namespaces=["team-a", "team-b"]))  # type: ignore[arg-type]
    asyncio.run(manager._prime())
    namespaced = [(plural, ns) for plural, ns in kube.calls if plural not in ("instancetypes",)]
    assert namespaced, kube.calls
    assert {ns for _, ns in namespaced} == {"team-a", "team-b"}  # never a cluster-wide LIST
    assert ("instancetypes", None) in kube.calls
    gateway_api = {"httproutes", "gateways"}  # skipped: no Gateway API here
    primed_namespaced = [
        w.kind for w in watches.TABLE if w.cached and w.kind.namespaced and w.kind.plural not in gateway_api
    ]
    assert len(kube.calls) == 1 + 2 * len(primed_namespaced)

    manager.observe("OnlineEndpoint", "ADDED", {"metadata": {"namespace": "team-c", "name": "ep"}})
    assert manager.store.get("OnlineEndpoint", "team-c", "ep") is None
    assert manager.queue.depth() == 0
    manager.observe("OnlineEndpoint", "ADDED", {"metadata": {"namespace": "team-a", "name": "ep"}})
    assert manager.store.get("OnlineEndpoint", "team-a", "ep") is not None


def test_unconfined_manager_lists_cluster_wide() -> None:
    kube = RecordingKube()
    asyncio.run(Manager(kube, OperatorSettings())._prime())  # type: ignore[arg-type]
    assert {ns for _, ns in kube.calls} == {None}
