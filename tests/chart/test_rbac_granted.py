"""What the chart's ServiceAccount may do, asked of the real API server, in every install mode.

The chart's RBAC objects (``helm template``) are applied to the local control plane; then, for
each namespace case (a namespace the operator is meant to use, one it is not, ``kube-system``),
the API server's own answer is compared with the table in test_rbac.py:

* the whole matrix from a SelfSubjectRulesReview as the ServiceAccount (the API behind
  ``kubectl auth can-i --list``), minus what any ServiceAccount may do (discovery, self reviews);
* and every Secret verb, one ``kubectl auth can-i VERB secrets -n NS --as=SA`` at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import create_namespace, delete_namespace, template
from tests.chart.test_rbac import CLUSTER, NAMESPACED, NAMESPACES, SECRETS, Triple, triples
from tests.conftest import namespace_name

pytestmark = pytest.mark.timeout(300)

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
SECRET_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def rules_in(cluster: Any, user: str, namespace: str) -> set[Triple]:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    }
    out = cluster.kubectl(
        "create", "--validate=false", f"--as={user}", "-o", "json", "-f", "-", input=json.dumps(review)
    ).stdout
    status = json.loads(out)["status"]
    assert not status.get("incomplete"), status.get("evaluationError")
    got: set[Triple] = set()
    for rule in status.get("resourceRules") or []:
        assert not rule.get("resourceNames"), rule
        for group in rule.get("apiGroups") or [""]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    got.add((group, resource, verb))
    return got


def can_i(cluster: Any, user: str, verb: str, resource: str, namespace: str) -> bool:
    res = cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", check=False)
    answer = res.stdout.strip()
    assert answer in ("yes", "no"), res.stdout + res.stderr
    return answer == "yes"


@pytest.fixture(scope="module")
def namespaces(cluster: Any) -> Iterator[dict[str, str]]:
    names = {
        "ops": create_namespace(cluster, namespace_name("rbac-ops")),
        "granted": create_namespace(cluster, namespace_name("rbac-team-a")),
        "other": create_namespace(cluster, namespace_name("rbac-team-b")),
    }
    try:
        yield names
    finally:
        for name in names.values():
            delete_namespace(cluster, name)


MODES = {
    "cluster-wide": {},
    "cluster-wide, secrets in chosen namespaces": {"rbac": {"clusterWideSecrets": False}},
    "namespaced": {},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_the_api_server_grants_exactly_the_table(
    cluster: Any, helm: Path, tmp_path: Path, namespaces: dict[str, str], mode: str
) -> None:
    ops, granted_ns, other = namespaces["ops"], namespaces["granted"], namespaces["other"]
    release = f"rbac{list(MODES).index(mode)}"
    values: dict[str, Any] = json.loads(json.dumps(MODES[mode]))
    if mode == "namespaced":
        values = {"operator": {"watchNamespaces": [granted_ns]}}
    elif "rbac" in values:
        values["rbac"]["secretNamespaces"] = [granted_ns]
    objects = [
        o for o in template(helm, tmp_path, values, release=release, namespace=ops) if o["kind"] in RBAC_KINDS
    ]
    objects = [o for o in objects if "helm.sh/hook" not in (o["metadata"].get("annotations") or {})]
    cluster.apply(objects)
    sa = f"system:serviceaccount:{ops}:{release}-mlendpoints"
    nobody = f"system:serviceaccount:{ops}:default"  # what every ServiceAccount may do anyway
    try:
        expect_everywhere = triples(CLUSTER)
        if mode == "cluster-wide":
            expected = {
                ns: triples(NAMESPACED) | expect_everywhere for ns in (granted_ns, other, "kube-system")
            }
        elif mode == "namespaced":
            expect_everywhere |= triples(NAMESPACES)
            expected = {
                granted_ns: triples(NAMESPACED) | expect_everywhere,
                other: expect_everywhere,
                "kube-system": expect_everywhere,
            }
        else:
            without = (triples(NAMESPACED) - triples(SECRETS)) | expect_everywhere
            expected = {
                granted_ns: triples(NAMESPACED) | expect_everywhere,
                other: without,
                "kube-system": without,
            }
        for ns, want in expected.items():
            baseline = rules_in(cluster, nobody, ns)
            got = rules_in(cluster, sa, ns) - baseline
            assert got == want - baseline, (
                f"{mode}, namespace {ns}: extra {sorted(got - want)}, missing {sorted(want - baseline - got)}"
            )
            secret_ok = {v for v in SECRET_VERBS if ("", "secrets", v) in want}
            for verb in SECRET_VERBS:
                assert can_i(cluster, sa, verb, "secrets", ns) is (verb in secret_ok), (mode, ns, verb)
        # never: anything on RBAC itself, nodes, pods/exec, creating pods directly
        for verb, resource in (
            ("create", "pods"),
            ("create", "pods/exec"),
            ("get", "nodes"),
            ("create", "rolebindings"),
        ):
            assert not can_i(cluster, sa, verb, resource, granted_ns), (mode, verb, resource)
    finally:
        for obj in objects:
            if obj["kind"] != "ServiceAccount":
                ns_args = ["-n", obj["metadata"]["namespace"]] if obj["metadata"].get("namespace") else []
                cluster.kubectl(
                    "delete",
                    obj["kind"],
                    obj["metadata"]["name"],
                    *ns_args,
                    "--ignore-not-found",
                    check=False,
                )
