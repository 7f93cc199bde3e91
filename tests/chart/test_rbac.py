"""The chart's RBAC is least privilege: exactly the verbs the operator's code uses, no wildcards.

No cluster: rules are read from ``helm template`` and compared with (a) the table below, which
docs/install.md explains row by row, and (b) what the code registers and calls: kopf's watch
handlers, the reconcilers' child kinds, status writes. The install test (test_install.py) then
runs the operator with the chart's ServiceAccount token, where a missing rule is a 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.chart.conftest import of_kind, one
from tests.chart.conftest import template as helm_template

Triple = tuple[str, str, str]  # (apiGroup, resource, verb)

READ = {"get", "list", "watch"}
CHILD = {"get", "list", "watch", "create", "patch", "delete"}
NAMESPACED: dict[tuple[str, str], set[str]] = {
    # patch: ownerReferences (OnlineDeployments) and the target-azureml finalizer (metadata merge patches).
    ("mlendpoints.io", "onlineendpoints"): READ | {"patch"},
    ("mlendpoints.io", "onlinedeployments"): READ | {"patch"},
    ("mlendpoints.io", "batchendpoints"): READ | {"patch"},
    ("mlendpoints.io", "batchdeployments"): READ | {"patch"},
    ("mlendpoints.io", "batchjobs"): READ,
    ("mlendpoints.io", "modelmonitors"): {"list", "watch"},
    ("mlendpoints.io", "onlineendpoints/status"): {"patch"},
    ("mlendpoints.io", "onlinedeployments/status"): {"patch"},
    ("mlendpoints.io", "batchendpoints/status"): {"patch"},
    ("mlendpoints.io", "batchdeployments/status"): {"patch"},
    ("mlendpoints.io", "batchjobs/status"): {"patch"},
    ("mlendpoints.io", "modelmonitors/status"): {"patch"},
    ("mlendpoints.io", "onlineendpoints/finalizers"): {"update"},
    ("mlendpoints.io", "onlinedeployments/finalizers"): {"update"},
    ("mlendpoints.io", "modelmonitors/finalizers"): {"update"},
    ("batch", "cronjobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("mlendpoints.io", "batchjobs/finalizers"): {"update"},
    ("apps", "deployments"): CHILD,
    ("", "services"): CHILD,
    ("autoscaling", "horizontalpodautoscalers"): CHILD,
    ("policy", "poddisruptionbudgets"): CHILD,
    ("networking.k8s.io", "ingresses"): CHILD,
    ("gateway.networking.k8s.io", "httproutes"): CHILD,
    ("networking.k8s.io", "networkpolicies"): CHILD,
    ("", "secrets"): {"get", "create", "patch", "delete"},
    ("", "pods"): {"list", "watch"},
    ("", "configmaps"): READ,
    ("", "events"): {"create"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch"},
    ("", "persistentvolumeclaims"): READ,
}
CLUSTER: dict[tuple[str, str], set[str]] = {
    ("mlendpoints.io", "instancetypes"): READ,
    ("mlendpoints.io", "instancetypes/status"): {"patch"},
    ("gateway.networking.k8s.io", "gateways"): READ,
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    ("", "namespaces"): {"get"},  # target azureml finalizers: is the namespace terminating?
}
#: Granted ahead of the code: cache-miss reads for the batch reconcilers (their watches and status
#: writes are already in the code). Remove from here and from the chart if they never come.
RESERVED: set[Triple] = {
    ("mlendpoints.io", r, "get") for r in ("batchendpoints", "batchdeployments", "batchjobs")
}
#: Only when watching a fixed set of namespaces (kopf's namespace observer).
NAMESPACES: dict[tuple[str, str], set[str]] = {("", "namespaces"): {"list", "watch"}}


def triples(table: Mapping[tuple[str, str], set[str]]) -> set[Triple]:
    return {(g, r, v) for (g, r), verbs in table.items() for v in verbs}


def granted(rules: Iterable[Mapping[str, Any]]) -> set[Triple]:
    out: set[Triple] = set()
    for rule in rules:
        assert not rule.get("nonResourceURLs"), rule
        assert not rule.get("resourceNames"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    out.add((group, resource, verb))
    return out


def template(*args: Any, **kwargs: Any) -> list[Mapping[str, Any]]:
    """The operator's objects: ``helm template`` without the ``helm test`` hooks (the test pod's own
    ServiceAccount and its one-rule Role are checked in test_chart.py)."""
    return [
        o
        for o in helm_template(*args, **kwargs)
        if (o.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook") != "test"
    ]


def test_cluster_wide_install_grants_exactly_the_table(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path, namespace="ops")
    assert not of_kind(objects, "Role")
    assert not of_kind(objects, "RoleBinding")
    role = one(objects, "ClusterRole")
    assert granted(role["rules"]) == triples(NAMESPACED) | triples(CLUSTER)
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    sa = one(
        [o for o in objects if not (o["metadata"].get("annotations") or {}).get("helm.sh/hook")],
        "ServiceAccount",
    )
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "ops"}
    ]
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_namespaced_install_uses_a_role_per_namespace(helm: Path, tmp_path: Path) -> None:
    objects = template(
        helm, tmp_path, {"operator": {"watchNamespaces": ["team-a", "team-b"]}}, namespace="ops"
    )
    cluster_role = one(objects, "ClusterRole")
    assert granted(cluster_role["rules"]) == triples(CLUSTER) | triples(NAMESPACES)
    roles = {r["metadata"]["namespace"]: r for r in of_kind(objects, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in of_kind(objects, "RoleBinding")}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    for ns, role in roles.items():
        assert granted(role["rules"]) == triples(NAMESPACED)
        assert bindings[ns]["roleRef"]["kind"] == "Role"
        assert bindings[ns]["roleRef"]["name"] == role["metadata"]["name"]
        assert bindings[ns]["subjects"][0]["namespace"] == "ops"


SECRETS = {("", "secrets"): NAMESPACED[("", "secrets")]}


def test_cluster_wide_install_can_keep_secrets_to_chosen_namespaces(helm: Path, tmp_path: Path) -> None:
    values = {"rbac": {"clusterWideSecrets": False, "secretNamespaces": ["team-b", "team-a"]}}
    objects = template(helm, tmp_path, values, namespace="ops")
    roles = {r["metadata"]["name"]: r for r in of_kind(objects, "ClusterRole")}
    assert set(roles) == {"mlep-mlendpoints", "mlep-mlendpoints-secrets"}
    assert granted(roles["mlep-mlendpoints"]["rules"]) == (triples(NAMESPACED) - triples(SECRETS)) | triples(
        CLUSTER
    )
    assert granted(roles["mlep-mlendpoints-secrets"]["rules"]) == triples(SECRETS)
    assert (
        len(of_kind(objects, "ClusterRoleBinding")) == 1
    )  # the secrets ClusterRole is never bound cluster-wide
    bindings = {b["metadata"]["namespace"]: b for b in of_kind(objects, "RoleBinding")}
    assert set(bindings) == {"team-a", "team-b"}
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "mlep-mlendpoints-secrets",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "mlep-mlendpoints", "namespace": "ops"}
        ]
    assert not of_kind(objects, "Role")


def test_rbac_can_be_left_to_the_cluster_admin(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path, {"rbac": {"create": False}})
    assert not {o["kind"] for o in objects} & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def _needed_by_code() -> dict[tuple[str, str], set[str]]:
    """What the operator's code uses, read from its registrations and reconcilers."""
    import kopf

    import mlendpoints.controller.handlers  # noqa: F401  (registers the watch handlers)
    from mlendpoints.backends.kubernetes import deployment, endpoint, monitor
    from mlendpoints.clients import resources

    needed: dict[tuple[str, str], set[str]] = {}

    def add(group: str, resource: str, *verbs: str) -> None:
        needed.setdefault((group, resource), set()).update(verbs)

    for handler in kopf.get_default_registry()._watching.get_all_handlers():
        selector = handler.selector
        assert selector is not None
        add(selector.group or "", str(selector.any_name or selector.plural or ""), "list", "watch")

    def group_of(kind: resources.Kind) -> str:
        return kind.api_version.rpartition("/")[0]

    for kind in {*deployment.CHILD_KINDS, *endpoint.CHILD_KINDS, *monitor.CHILD_KINDS}:
        # cache-miss read; server-side apply (an apply that creates is authorized as create too); pruning
        add(group_of(kind), kind.plural, "get", "create", "patch", "delete")
    # the endpoint's keys Secret: never cached, so read, applied and pruned by name
    add(group_of(resources.SECRET), resources.SECRET.plural, "get", "create", "patch", "delete")
    for kind in (
        resources.ONLINE_ENDPOINT,
        resources.INSTANCE_TYPE,
        resources.CONFIGMAP,
        resources.SECRET,
        resources.GATEWAY,
    ):
        add(group_of(kind), kind.plural, "get")  # Context.live / key lookups
    add(group_of(resources.ONLINE_DEPLOYMENT), resources.ONLINE_DEPLOYMENT.plural, "get", "patch")  # adoption
    # BatchJob -> Job: cache-miss read, one server-side apply (create), suspend patch; PVC existence checks
    add(group_of(resources.JOB), resources.JOB.plural, "get", "create", "patch")
    add(group_of(resources.PVC), resources.PVC.plural, "get")
    for kind in resources._ALL:
        if group_of(kind) == "mlendpoints.io":
            add("mlendpoints.io", f"{kind.plural}/status", "patch")
    from mlendpoints.controller import watches

    for watch in watches.TABLE:  # one LIST per cached kind at startup
        if watch.cached:
            add(group_of(watch.kind), watch.kind.plural, "list")
    add("", "events", "create")
    add("apiextensions.k8s.io", "customresourcedefinitions", "list", "watch")  # kopf's resource observer
    from mlendpoints.backends.azureml import common as azure_common

    # target azureml: the finalizer (metadata merge patch) on every kind that gets one ...
    for kind in (
        resources.ONLINE_ENDPOINT,
        resources.ONLINE_DEPLOYMENT,
        resources.BATCH_ENDPOINT,
        resources.BATCH_DEPLOYMENT,
    ):
        add(group_of(kind), kind.plural, "patch")
    # ... and whether a namespace is terminating when the credential Secret is gone.
    add("", azure_common.NAMESPACE.plural, "get")
    return needed


def test_every_call_the_code_makes_is_granted_and_nothing_else() -> None:
    needed = triples(_needed_by_code())
    table = triples(NAMESPACED) | triples(CLUSTER)
    finalizers = {t for t in table if t[1].endswith("/finalizers")}  # admission-plugin requirement
    assert needed - table == set(), (
        f"the code uses these but the chart does not grant them: {sorted(needed - table)}"
    )
    unused = table - finalizers - RESERVED - needed
    assert unused == set(), f"granted but unused by the code: {sorted(unused)}"
