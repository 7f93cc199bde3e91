"""Tenant isolation on the real control plane: the confused deputy, host conflicts, NetworkPolicy.

``alice`` may create mlendpoints resources in her namespace and nothing else (no Secrets, no
Pods). What the issue's attack did with the operator's rights must now fail closed, with a
condition that names the field and the Secret, and without any Deployment that would mount it.
NetworkPolicy is checked at the object level: the local cluster's nodes (kwok) enforce no
NetworkPolicy, so whether traffic is refused is up to the CNI of a real cluster.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.conftest import create_namespace, delete_namespace, scoring_manifests
from tests.conftest import namespace_name
from tests.integration.conftest import OperatorProcess, condition, get, wait_condition, wait_for

pytestmark = pytest.mark.timeout(300)

API = "mlendpoints.io/v1alpha1"
ALICE = "alice"


def _alice_may_only_write_mlendpoints(cluster: Any, ns: str) -> None:
    cluster.apply(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "ml-author", "namespace": ns},
                "rules": [
                    {
                        "apiGroups": ["mlendpoints.io"],
                        "resources": ["onlineendpoints", "onlinedeployments"],
                        "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
                    }
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "alice-ml-author", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ml-author"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ALICE}],
            },
        ]
    )
    denied = cluster.kubectl("get", "secret", "db-creds", "-n", ns, f"--as={ALICE}", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()


def _secret(ns: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "stringData": {"AWS_SECRET_ACCESS_KEY": "do-not-leak"},
    }


def _as_alice(cluster: Any, objects: list[dict[str, Any]]) -> None:
    import json

    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=alice",
        f"--as={ALICE}",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )


def _alice_objects(ns: str, endpoint: str, secret: str) -> list[dict[str, Any]]:
    objects = scoring_manifests(ns, endpoint, ("blue",))[1:]  # the ConfigMap is made by the admin
    dep = objects[1]
    dep["spec"]["model"] = {"path": "s3://models/m/1/", "credentialsSecretRef": {"name": secret}}
    dep["spec"]["environment"] = {"image": "registry.example.com/alice/any:1"}
    dep["spec"]["dataCollector"] = {"enabled": True, "destination": "s3://alice-bucket/logs/"}
    return objects


def test_alice_cannot_borrow_a_secret_she_cannot_read(
    cluster: Any, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    _alice_may_only_write_mlendpoints(cluster, ns)
    cluster.apply([_secret(ns, "db-creds"), scoring_manifests(ns)[0]])
    _as_alice(cluster, _alice_objects(ns, "ep1", "db-creds"))
    dep = wait_condition(cluster, "onlinedeployment", "blue", ns, "Stalled", reason="SecretNotAllowed")
    message = condition(dep, "Stalled")["message"]  # type: ignore[index]
    assert "spec.model.credentialsSecretRef" in message
    assert "'db-creds'" in message
    assert "mlendpoints.io/allow-reference" in message
    assert get(cluster, "deployment", "ep1-blue", ns) is None  # no pod ever mounts it

    # the Secret's owner opts it in: the same deployment proceeds (the Deployment now exists)
    cluster.kubectl("label", "secret", "db-creds", "-n", ns, "mlendpoints.io/allow-reference=true")
    wait_for(
        lambda: get(cluster, "deployment", "ep1-blue", ns), timeout=90, what="the Deployment after opt-in"
    )


def test_another_endpoints_keys_are_never_mounted(
    cluster: Any, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    _alice_may_only_write_mlendpoints(cluster, ns)
    # The payments team's keys Secret, made by mlendpoints for their endpoint (another uid).
    keys = _secret(ns, "payments-keys", {"mlendpoints.io/owner-uid": "uid-of-the-payments-teams-endpoint"})
    keys["stringData"] = {"primaryKey": "payments-primary", "secondaryKey": "payments-secondary"}
    cluster.apply([keys, scoring_manifests(ns)[0]])
    # alice names her endpoint "payments": its keys Secret would be payments-keys
    cluster.apply(_secret(ns, "alice-creds", {"mlendpoints.io/allow-reference": "true"}))
    _as_alice(cluster, _alice_objects(ns, "payments", "alice-creds"))
    ep = wait_condition(cluster, "onlineendpoint", "payments", ns, "Stalled", reason="NameConflict")
    assert "'payments-keys'" in condition(ep, "Stalled")["message"]  # type: ignore[index]
    dep = wait_condition(cluster, "onlinedeployment", "blue", ns, "Stalled", reason="NameConflict")
    message = condition(dep, "Stalled")["message"]  # type: ignore[index]
    assert "keys Secret 'payments-keys' does not belong" in message
    assert get(cluster, "deployment", "payments-blue", ns) is None
    secret = get(cluster, "secret", "payments-keys", ns)
    assert secret is not None
    assert secret["metadata"]["labels"]["mlendpoints.io/owner-uid"] == "uid-of-the-payments-teams-endpoint"
    # labelled or not, a Secret mlendpoints made cannot be referenced as credentials
    cluster.kubectl("label", "secret", "payments-keys", "-n", ns, "mlendpoints.io/allow-reference=true")
    _as_alice(cluster, _alice_objects(ns, "payments", "payments-keys"))
    dep = wait_condition(cluster, "onlinedeployment", "blue", ns, "Stalled", reason="SecretNotAllowed")
    assert "managed by mlendpoints" in condition(dep, "Stalled")["message"]  # type: ignore[index]


def test_a_monitor_runs_only_with_an_opted_in_secret(
    cluster: Any, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    objects = scoring_manifests(ns, "ep1", ("blue",))
    objects[2]["spec"]["dataCollector"] = {"enabled": True, "destination": "s3://bucket/logs/"}
    monitor = {
        "apiVersion": API,
        "kind": "ModelMonitor",
        "metadata": {"name": "drift1", "namespace": ns},
        "spec": {
            "endpointName": "ep1",
            "deploymentName": "blue",
            "schedule": "0 6 * * *",
            "dataDrift": {"baseline": {"path": "s3://bucket/train.csv"}, "targetColumns": ["age"]},
            "credentialsSecretRef": {"name": "db-creds"},
        },
    }
    cluster.apply([_secret(ns, "db-creds"), *objects, monitor])
    stalled = wait_condition(cluster, "modelmonitor", "drift1", ns, "Stalled", reason="SecretNotAllowed")
    assert "spec.credentialsSecretRef: Secret 'db-creds'" in condition(stalled, "Stalled")["message"]  # type: ignore[index]
    assert get(cluster, "cronjob", "drift1-drift", ns) is None
    cluster.kubectl("label", "secret", "db-creds", "-n", ns, "mlendpoints.io/allow-reference=true")
    wait_for(lambda: get(cluster, "cronjob", "drift1-drift", ns), timeout=90, what="the CronJob after opt-in")


def test_a_host_served_in_another_namespace_is_not_taken(cluster: Any, operator: OperatorProcess) -> None:
    first = create_namespace(cluster, namespace_name("host-first"))
    second = create_namespace(cluster, namespace_name("host-second"))
    host = f"{first}.scoring.example.com"
    routing = {"type": "none", "host": host}
    try:
        cluster.apply(scoring_manifests(first, "ep1", ("blue",), traffic={"blue": 100}, routing=routing))
        wait_condition(cluster, "onlineendpoint", "ep1", first, "Ready")
        cluster.apply(scoring_manifests(second, "ep1", ("blue",), traffic={"blue": 100}, routing=routing))
        ep = wait_condition(cluster, "onlineendpoint", "ep1", second, "Stalled", reason="HostConflict")
        message = condition(ep, "Stalled")["message"]  # type: ignore[index]
        assert f"OnlineEndpoint {first}/ep1" in message
        assert "spec.routing.host" in message
        assert get(cluster, "service", "ep1", second) is None
        # the owner gives the host up: the second endpoint gets it
        cluster.kubectl("delete", "onlineendpoint", "ep1", "-n", first)
        wait_condition(cluster, "onlineendpoint", "ep1", second, "Ready", timeout=120)
    finally:
        delete_namespace(cluster, first)
        delete_namespace(cluster, second)


def test_scoring_pods_get_a_network_policy(cluster: Any, operator: OperatorProcess, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        scoring_manifests(
            ns,
            "ep1",
            ("blue",),
            traffic={"blue": 100},
            routing={"type": "gatewayAPI", "parentRefs": [{"name": "gw", "namespace": "gateway-system"}]},
        )
    )
    policy = wait_for(lambda: get(cluster, "networkpolicy", "ep1-blue", ns), what="the NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == {
        "mlendpoints.io/endpoint": "ep1",
        "mlendpoints.io/deployment": "blue",
    }
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    (peer,) = rule["from"]
    (expr,) = peer["namespaceSelector"]["matchExpressions"]
    assert expr["key"] == "kubernetes.io/metadata.name"
    assert set(expr["values"]) == {"gateway-system", "ingress-nginx", ns}
    assert policy["metadata"]["ownerReferences"][0]["kind"] == "OnlineDeployment"
