"""The watch table on the real control plane: what the operator owns is noticed and restored,
whatever process created it.

Inputs: OnlineEndpoints/OnlineDeployments applied with kubectl, hand edits and deletions of their
children, and operator restarts. Outputs checked: the children as the API server holds them.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import OperatorProcess, get, wait_condition, wait_for
from tests.integration.test_online import code_configmap, deployment, endpoint

pytestmark = pytest.mark.usefixtures("operator")


def test_auth_mode_key_to_none_across_a_restart_deletes_the_keys_secret(
    cluster: Any, namespace: str, operator: OperatorProcess
) -> None:
    ns = namespace
    cluster.apply([code_configmap(ns), endpoint(ns, routing={"type": "none"}, authMode="key")])
    wait_for(lambda: get(cluster, "secret", "ep1-keys", ns), what="keys Secret")
    operator.restart()  # the new process never wrote the Secret into its cache
    cluster.kubectl("patch", "oep", "ep1", "-n", ns, "--type=merge", "-p", '{"spec":{"authMode":"none"}}')
    wait_condition(cluster, "oep", "ep1", ns, "Ready", timeout=30)
    wait_for(lambda: get(cluster, "secret", "ep1-keys", ns) is None, timeout=10, what="keys Secret deleted")


def test_a_deleted_endpoint_service_is_restored(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue"),
        ]
    )
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    first = get(cluster, "service", "ep1", ns)
    assert first is not None
    cluster.kubectl("delete", "service", "ep1", "-n", ns, "--wait=true")
    restored = wait_for(
        lambda: (
            (s := get(cluster, "service", "ep1", ns))
            and s["metadata"]["uid"] != first["metadata"]["uid"]
            and s
        ),
        timeout=5,
        what="endpoint Service restored",
    )
    assert restored["spec"]["selector"] == first["spec"]["selector"]


def test_removing_the_managed_by_label_from_a_child_is_reverted(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue"),
        ]
    )
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    cluster.kubectl("label", "deployment", "ep1-blue", "-n", ns, "app.kubernetes.io/managed-by-")
    wait_for(
        lambda: (
            ((get(cluster, "deployment", "ep1-blue", ns) or {}).get("metadata", {}).get("labels") or {}).get(
                "app.kubernetes.io/managed-by"
            )
            == "mlendpoints-operator"
        ),
        timeout=5,
        what="managed-by label restored",
    )


def _wait_reverted(cluster: Any, kind: str, name: str, ns: str, check: Any, what: str) -> None:
    wait_for(lambda: (obj := get(cluster, kind, name, ns)) is not None and check(obj), timeout=5, what=what)


def test_hand_edits_that_add_fields_are_reverted(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue"),
        ]
    )
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    wait_condition(cluster, "oep", "ep1", ns, "Ready")

    cluster.kubectl(
        "patch", "service", "ep1", "-n", ns, "--type=merge", "-p", '{"spec":{"selector":{"hijack":"yes"}}}'
    )
    _wait_reverted(
        cluster,
        "service",
        "ep1",
        ns,
        lambda s: "hijack" not in s["spec"]["selector"],
        "Service selector restored",
    )

    cluster.kubectl("set", "env", "deployment/ep1-blue", "-n", ns, "MLENDPOINTS_DEBUG=true")

    def no_debug(d: dict[str, Any]) -> bool:
        env = d["spec"]["template"]["spec"]["containers"][0].get("env") or []
        return "MLENDPOINTS_DEBUG" not in {e["name"] for e in env}

    _wait_reverted(cluster, "deployment", "ep1-blue", ns, no_debug, "added env var removed")

    patch = '{"spec":{"template":{"spec":{"nodeSelector":{"zone":"elsewhere"}}}}}'
    cluster.kubectl("patch", "deployment", "ep1-blue", "-n", ns, "--type=merge", "-p", patch)
    _wait_reverted(
        cluster,
        "deployment",
        "ep1-blue",
        ns,
        lambda d: "zone" not in (d["spec"]["template"]["spec"].get("nodeSelector") or {}),
        "nodeSelector restored",
    )


CHILD_KINDS = "deployments,services,horizontalpodautoscalers,poddisruptionbudgets,httproutes,networkpolicies"


def _children(cluster: Any, ns: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> uid of every object the operator made in ``ns`` (Secrets aside)."""
    items = cluster.kubectl_json(
        "get", CHILD_KINDS, "-n", ns, "-l", "app.kubernetes.io/managed-by=mlendpoints-operator"
    )
    return {(i["kind"], i["metadata"]["name"]): i["metadata"]["uid"] for i in items["items"]}


@pytest.mark.usefixtures("fake_gateway")
def test_every_deleted_child_is_restored(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(
                ns, traffic={"blue": 100}, routing={"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]}
            ),
            deployment(
                ns,
                "blue",
                instanceCount=2,
                scaleSettings={"type": "targetUtilization", "minInstances": 2, "maxInstances": 3},
            ),
        ]
    )
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    before = _children(cluster, ns)
    kinds = {kind for kind, _ in before}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "HTTPRoute"} <= kinds, before
    for (kind, name), uid in sorted(before.items()):
        cluster.kubectl("delete", kind.lower(), name, "-n", ns, "--wait=true")
        wait_for(
            lambda kind=kind, name=name, uid=uid: _children(cluster, ns).get((kind, name)) not in (None, uid),
            timeout=5,
            what=f"{kind} {name} restored",
        )


def test_an_endpoint_deleted_and_recreated_with_the_same_name_is_ready_again(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    objs = [
        code_configmap(ns),
        endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
        deployment(ns, "blue"),
    ]
    cluster.apply(objs)
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    cluster.kubectl("delete", "oep", "ep1", "-n", ns, "--wait=true")
    wait_for(
        lambda: get(cluster, "secret", "ep1-keys", ns) is None, timeout=30, what="old keys Secret collected"
    )
    cluster.apply(objs)  # its deployment went with it (the endpoint owns it): apply both again
    wait_condition(cluster, "oep", "ep1", ns, "Ready", timeout=10)


def test_hand_set_replicas_without_an_hpa_are_restored(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue"),
        ]
    )
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    cluster.kubectl("scale", "deployment", "ep1-blue", "-n", ns, "--replicas=3")
    _wait_reverted(
        cluster, "deployment", "ep1-blue", ns, lambda d: d["spec"]["replicas"] == 1, "replicas restored"
    )
