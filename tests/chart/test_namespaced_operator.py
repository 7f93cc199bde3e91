"""``mlendpoints run -n NS`` with the chart's namespaced token: every request stays in NS (audit log).

The chart is installed watching one namespace; the operator is started with the ServiceAccount's
token and the **CLI flag** (``MLENDPOINTS_NAMESPACES`` unset), the path the issue found broken.
Endpoints exist in the watched namespace and in another one, both using one InstanceType, which
is then changed (the change that made a cluster-wide cache patch another namespace). The local
API server logs every request of a ServiceAccount (devcluster ``audit_policy``): none may name
another namespace, and none may be a cluster-wide request on a namespaced resource.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import (
    create_namespace,
    delete_namespace,
    installed,
    scoring_manifests,
    token_kubeconfig,
)
from tests.conftest import namespace_name
from tests.integration.conftest import OperatorProcess, get, wait_condition, wait_for

pytestmark = pytest.mark.timeout(600)

#: cluster-scoped resources the operator (and kopf) may read: InstanceTypes, CRDs, namespaces
CLUSTER_SCOPED = {"instancetypes", "customresourcedefinitions", "namespaces"}


@pytest.fixture(scope="module")
def confined(cluster: Any, helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not cluster.is_local:
        pytest.skip("needs the local control plane's audit log")
    watched = create_namespace(cluster, namespace_name("confined-a"))
    other = create_namespace(cluster, namespace_name("confined-b"))
    work = tmp_path_factory.mktemp("confined")
    values = {"operator": {"watchNamespaces": [watched]}}
    try:
        with installed(cluster, helm, work, name="conf", namespace=watched, values=values) as release:
            release.stop_operator()  # the chart's env confines it; the flag alone must do too
            kubeconfig = token_kubeconfig(
                cluster, work / "sa.kubeconfig", namespace=watched, service_account=release.service_account
            )
            mark = cluster.audit_mark()
            operator = OperatorProcess(
                kubeconfig=kubeconfig, log_path=work / "flag.log", user=release.user, args=("-n", watched)
            )
            with pytest.MonkeyPatch.context() as mp:
                mp.delenv("MLENDPOINTS_NAMESPACES", raising=False)
                assert "MLENDPOINTS_NAMESPACES" not in os.environ
                operator.start(timeout=90)
            try:
                yield {"watched": watched, "other": other, "release": release, "mark": mark}
            finally:
                operator.stop()  # before the release (and its RBAC) goes
                print(f"operator log: {operator.log_path}")
    finally:
        cluster.kubectl("delete", "instancetype", "confined-cpu", "--ignore-not-found", check=False)
        delete_namespace(cluster, other)
        delete_namespace(cluster, watched)


def _instance_type(cpu: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "InstanceType",
        "metadata": {"name": "confined-cpu"},
        "spec": {"resources": {"requests": {"cpu": cpu, "memory": "128Mi"}}},
    }


def _with_instance_type(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for obj in objects:
        if obj["kind"] == "OnlineDeployment":
            obj["spec"]["instanceType"] = "confined-cpu"
    return objects


def test_no_request_leaves_the_watched_namespace(cluster: Any, confined: dict[str, Any]) -> None:
    watched, other = confined["watched"], confined["other"]
    cluster.apply(_instance_type("100m"))
    cluster.apply(_with_instance_type(scoring_manifests(other, "ep1", ("blue",))))
    cluster.apply(_with_instance_type(scoring_manifests(watched, "ep1", ("blue",))))
    wait_condition(cluster, "onlinedeployment", "blue", watched, "Ready")
    cluster.apply(_instance_type("200m"))  # both deployments use it: only the watched one may change
    wait_for(
        lambda: (
            (get(cluster, "deployment", "ep1-blue", watched) or {})
            .get("spec", {})
            .get("template", {})
            .get("spec", {})
            .get("containers", [{}])[0]
            .get("resources", {})
            .get("requests", {})
            .get("cpu")
            == "200m"
        ),
        what="the watched deployment to take the new InstanceType",
    )

    events = cluster.audit_events(
        confined["mark"],
        user=confined["release"].user,
        verbs=("get", "list", "watch", "create", "patch", "update", "delete"),
    )
    assert any((e.get("objectRef") or {}).get("namespace") == watched for e in events), (
        "no request seen at all"
    )
    outside = []
    for event in events:
        ref = event.get("objectRef") or {}
        if not ref:  # discovery (/api, /apis): no object
            continue
        namespace, resource = ref.get("namespace"), ref.get("resource")
        if namespace and namespace != watched:
            outside.append(f"{event['verb']} {event['requestURI']}")
        elif not namespace and resource not in CLUSTER_SCOPED and not resource.endswith("reviews"):
            outside.append(f"cluster-wide {event['verb']} {event['requestURI']}")
        if event.get("responseStatus", {}).get("code") == 403:
            outside.append(f"denied {event['verb']} {event['requestURI']}")
    assert not outside, "requests outside the watched namespace:\n" + "\n".join(outside[:30])
