"""The operator's API client on the real control plane: paged LISTs (what primes the cache).

Inputs: ConfigMaps created with kubectl. Outputs checked: the pages ``Kube.pages`` yields and the
objects ``Kube.list`` returns, as the API server chunks them (``limit`` and ``continue``).
"""

from __future__ import annotations

from typing import Any

from mlendpoints.clients import resources
from mlendpoints.clients.kube import Kube


def test_a_paged_list_yields_every_object_once_in_pages_of_the_limit(cluster: Any, namespace: str) -> None:
    names = [f"cm-{i}" for i in range(5)]
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": n, "namespace": namespace, "labels": {"paged": "yes"}},
            }
            for n in names
        ]
        + [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": namespace}}]
    )
    kube = Kube(cluster.api_client())

    pages = list(kube.pages(resources.CONFIGMAP, namespace, labels="paged=yes", limit=2))

    assert [len(p) for p in pages] == [2, 2, 1]
    items = [item for page in pages for item in page]
    assert sorted(i["metadata"]["name"] for i in items) == names
    assert {(i["apiVersion"], i["kind"]) for i in items} == {("v1", "ConfigMap")}
    listed = kube.list(resources.CONFIGMAP, namespace, labels="paged=yes")
    assert sorted(i["metadata"]["name"] for i in listed) == names
