"""Online endpoints end to end on the real control plane, with the operator running as a process.

Inputs: InstanceTypes, OnlineEndpoints, OnlineDeployments and ConfigMaps applied with kubectl.
Outputs checked: the Kubernetes objects the operator creates (Deployments, Services, HPAs, PDBs,
HTTPRoutes, Ingresses, Secrets), their fields, and the status/conditions it reports. kwok runs
the pods (Ready without containers), so readiness, scheduling and GPU placement are real.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import OperatorProcess, condition, get, wait_condition, wait_for

API = "mlendpoints.io/v1alpha1"
#: fake_gateway: Gateway "gw" exists and a stand-in controller programs it and accepts routes.
pytestmark = pytest.mark.usefixtures("operator", "fake_gateway")


def code_configmap(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "score", "namespace": ns},
        "data": {"score.py": "def init():\n    pass\n\ndef run(raw):\n    return raw\n"},
    }


def endpoint(ns: str, name: str = "ep1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "OnlineEndpoint",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def deployment(ns: str, name: str, endpoint_name: str = "ep1", **spec: Any) -> dict[str, Any]:
    body = {
        "endpointName": endpoint_name,
        "model": {"path": "https://models.example.com/m/1/"},
        "codeConfiguration": {"configMap": {"name": "score"}, "scoringScript": "score.py"},
        **spec,
    }
    return {
        "apiVersion": API,
        "kind": "OnlineDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
    }


def route_weights(route: dict[str, Any]) -> dict[str, int]:
    """Weights of the default (header-less) rule, by backend Service name."""
    for rule in route["spec"]["rules"]:
        if not any(m.get("headers") for m in rule.get("matches", [])):
            return {b["name"]: b.get("weight", 1) for b in rule.get("backendRefs", [])}
    return {}


def setup_blue_green(cluster: Any, ns: str, traffic: dict[str, int], **ep_spec: Any) -> None:
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(
                ns, traffic=traffic, routing={"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]}, **ep_spec
            ),
            deployment(ns, "blue"),
            deployment(ns, "green"),
        ]
    )


def test_blue_green_rollout_moves_route_weights_only_to_ready_deployments(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    setup_blue_green(cluster, ns, {"blue": 100, "green": 0})
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    route = get(cluster, "httproute", "ep1", ns)
    assert route is not None
    assert route_weights(route) == {"ep1-blue": 100}

    # Header pinning: one rule per deployment, even at 0% traffic.
    pins = {
        r["matches"][0]["headers"][0]["value"]: r["backendRefs"][0]["name"]
        for r in route["spec"]["rules"]
        if any(m.get("headers") for m in r.get("matches", []))
    }
    assert pins == {"blue": "ep1-blue", "green": "ep1-green"}
    assert all(
        m["headers"][0]["name"].lower() == "azureml-model-deployment"
        for r in route["spec"]["rules"]
        for m in r.get("matches", [])
        if m.get("headers")
    )

    cluster.kubectl(
        "patch", "oep", "ep1", "-n", ns, "--type=merge", "-p", '{"spec":{"traffic":{"blue":90,"green":10}}}'
    )
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready")
    assert ep["status"]["traffic"] == {"blue": 90, "green": 10}
    assert route_weights(get(cluster, "httproute", "ep1", ns)) == {"ep1-blue": 90, "ep1-green": 10}  # type: ignore[arg-type]

    cluster.kubectl(
        "patch", "oep", "ep1", "-n", ns, "--type=merge", "-p", '{"spec":{"traffic":{"blue":0,"green":100}}}'
    )
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready")
    assert route_weights(get(cluster, "httproute", "ep1", ns)) == {"ep1-green": 100}  # type: ignore[arg-type]
    assert ep["status"]["scoringUri"].endswith("/score")
    assert ep["status"]["swaggerUri"].endswith("/swagger.json")


def test_traffic_to_a_deployment_that_is_not_ready_stays_on_the_ready_one(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    # green's scoring code (a ConfigMap) does not exist yet: green cannot become Ready.
    green_code = {"configMap": {"name": "score-green"}, "scoringScript": "score.py"}
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(
                ns,
                traffic={"blue": 90, "green": 10},
                routing={"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]},
            ),
            deployment(ns, "blue"),
            deployment(ns, "green", codeConfiguration=green_code),
        ]
    )
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    ep = wait_condition(cluster, "oep", "ep1", ns, "Reconciling", reason="WaitingForDeployments")
    assert {k: v for k, v in ep["status"]["traffic"].items() if v} == {"blue": 100}
    summary = {d["name"]: d for d in ep["status"]["deployments"]}
    assert (summary["green"]["desiredTraffic"], summary["green"]["effectiveTraffic"]) == (10, 0)
    assert condition(ep, "Ready")["status"] == "Unknown"  # type: ignore[index]
    assert route_weights(get(cluster, "httproute", "ep1", ns)) == {"ep1-blue": 100}  # type: ignore[arg-type]

    # The code arrives: green rolls out, becomes Ready, and only then gets its 10%.
    cm = code_configmap(ns)
    cm["metadata"]["name"] = "score-green"
    cluster.apply(cm)
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready")
    assert ep["status"]["traffic"] == {"blue": 90, "green": 10}
    assert route_weights(get(cluster, "httproute", "ep1", ns)) == {"ep1-blue": 90, "ep1-green": 10}  # type: ignore[arg-type]


def test_a_stalled_deployment_with_traffic_stalls_the_endpoint(cluster: Any, namespace: str) -> None:
    ns = namespace
    nowhere = f"nowhere-{ns[-6:]}"
    cluster.apply(
        {
            "apiVersion": API,
            "kind": "InstanceType",
            "metadata": {"name": nowhere},
            "spec": {"nodeSelector": {"pool": "does-not-exist"}},
        }
    )
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(
                ns,
                traffic={"blue": 90, "green": 10},
                routing={"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]},
            ),
            deployment(ns, "blue"),
            deployment(ns, "green", instanceType=nowhere),
        ]
    )
    green = wait_condition(cluster, "odep", "green", ns, "Stalled", reason="Unschedulable")
    assert "node" in condition(green, "Stalled")["message"]  # type: ignore[index]
    ep = wait_condition(cluster, "oep", "ep1", ns, "Stalled", reason="DeploymentStalled")
    assert "green" in condition(ep, "Stalled")["message"]  # type: ignore[index]
    # green never gets a pod, so the route sends everything to blue once blue has an available
    # pod (the endpoint may report green's stall before blue's first pod is available).
    wait_for(
        lambda: route_weights(get(cluster, "httproute", "ep1", ns)) == {"ep1-blue": 100},  # type: ignore[arg-type]
        what="HTTPRoute all to blue",
    )
    ep = get(cluster, "oep", "ep1", ns)
    assert condition(ep, "Stalled")["reason"] == "DeploymentStalled"  # type: ignore[arg-type,index]
    cluster.kubectl("delete", "instancetype", nowhere, "--wait=false")


def test_mirror_traffic_becomes_a_request_mirror_filter(cluster: Any, namespace: str) -> None:
    ns = namespace
    setup_blue_green(cluster, ns, {"blue": 100}, mirrorTraffic={"green": 20})
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    route = get(cluster, "httproute", "ep1", ns)
    assert route is not None
    default = next(
        r for r in route["spec"]["rules"] if not any(m.get("headers") for m in r.get("matches", []))
    )
    mirrors = [f["requestMirror"] for f in default.get("filters", []) if f["type"] == "RequestMirror"]
    assert len(mirrors) == 1
    assert mirrors[0]["backendRef"]["name"] == "ep1-green"
    assert mirrors[0].get("percent", (mirrors[0].get("fraction") or {}).get("numerator")) == 20


@pytest.mark.parametrize("count", [2, 3])
def test_ingress_routing_supports_two_deployments_and_stalls_on_three(
    cluster: Any, namespace: str, count: int
) -> None:
    ns = namespace
    names = ["blue", "green", "red"][:count]
    traffic = {"blue": 80, "green": 20} if count == 2 else {"blue": 60, "green": 20, "red": 20}
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(
                ns,
                traffic=traffic,
                routing={"type": "ingress", "ingressClassName": "nginx", "host": "ep1.example.com"},
            ),
        ]
        + [deployment(ns, n) for n in names]
    )
    if count == 2:
        # No ingress controller has admitted the Ingresses yet: not Ready, and the message says so.
        ep = wait_condition(cluster, "oep", "ep1", ns, "Reconciling", reason="IngressNotAdmitted")
        assert "nginx" in condition(ep, "Reconciling")["message"]  # type: ignore[index]
        admitted = {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}
        for name in ("ep1", "ep1-canary"):
            wait_for(lambda n=name: get(cluster, "ingress", n, ns), what=f"Ingress {name}")  # type: ignore[misc]
            cluster.kubectl(
                "patch", "ingress", name, "-n", ns, "--subresource=status", "--type=merge",
                "-p", json.dumps(admitted),
            )  # fmt: skip
        wait_condition(cluster, "oep", "ep1", ns, "Ready")
        main, canary = get(cluster, "ingress", "ep1", ns), get(cluster, "ingress", "ep1-canary", ns)
        assert main is not None
        assert canary is not None
        ann = canary["metadata"]["annotations"]
        assert ann["nginx.ingress.kubernetes.io/canary"] == "true"
        assert ann["nginx.ingress.kubernetes.io/canary-weight"] == "20"
        assert ann["nginx.ingress.kubernetes.io/canary-by-header"].lower() == "azureml-model-deployment"
        # The main Ingress targets the endpoint's stable Service, which selects the primary's pods.
        backend = main["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        stable = get(cluster, "service", backend, ns)
        assert stable is not None
        assert stable["spec"]["selector"]["mlendpoints.io/deployment"] == "blue"
        canary_backend = canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert canary_backend == "ep1-green"
    else:
        ep = wait_condition(cluster, "oep", "ep1", ns, "Stalled", reason="RoutingUnsupported")
        assert "2" in condition(ep, "Stalled")["message"]  # type: ignore[index]
        assert get(cluster, "ingress", "ep1", ns) is None  # never a partial route


def test_autoscaled_deployment_gets_an_hpa_with_the_users_behavior(cluster: Any, namespace: str) -> None:
    ns = namespace
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 123,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
        }
    }
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(
                ns,
                "blue",
                scaleSettings={
                    "type": "targetUtilization",
                    "minInstances": 2,
                    "maxInstances": 7,
                    "targetUtilizationPercentage": 55,
                    "behavior": behavior,
                },
            ),
        ]
    )
    hpa = wait_for(lambda: get(cluster, "hpa", "ep1-blue", ns), what="HPA")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 7)
    metric = hpa["spec"]["metrics"][0]["resource"]
    assert (metric["name"], metric["target"]["averageUtilization"]) == ("cpu", 55)
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 123
    assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == behavior["scaleDown"]["policies"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ep1-blue",
    }
    pdb = wait_for(lambda: get(cluster, "pdb", "ep1-blue", ns), what="PDB")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_probes_resources_and_instance_type_are_mapped_and_a_change_rolls(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    itype = f"it-{ns[-6:]}"
    cluster.apply(
        {
            "apiVersion": API,
            "kind": "InstanceType",
            "metadata": {"name": itype},
            "spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
                ],
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "2", "memory": "2Gi"},
                },
            },
        }
    )
    probe = {"initialDelay": 3, "period": 4, "timeout": 5, "successThreshold": 2, "failureThreshold": 6}
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(
                ns,
                "blue",
                instanceType=itype,
                instanceCount=2,
                readinessProbe=probe,
                livenessProbe={**probe, "successThreshold": 1},
            ),
        ]
    )
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    dep = get(cluster, "deployment", "ep1-blue", ns)
    assert dep is not None
    pod = dep["spec"]["template"]["spec"]
    main = next(c for c in pod["containers"] if c["name"] == "scoring")
    ready = main["readinessProbe"]
    assert (ready["initialDelaySeconds"], ready["periodSeconds"], ready["timeoutSeconds"]) == (3, 4, 5)
    assert (ready["successThreshold"], ready["failureThreshold"]) == (2, 6)
    assert main["livenessProbe"]["successThreshold"] == 1
    assert main["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert main["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = get(cluster, "pdb", "ep1-blue", ns)
    assert pdb is not None
    assert pdb["spec"]["minAvailable"] == 1
    sec = main["securityContext"]
    assert sec["readOnlyRootFilesystem"] is True
    assert sec["allowPrivilegeEscalation"] is False
    assert sec["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    odep = get(cluster, "odep", "blue", ns)
    assert odep is not None
    assert odep["status"]["readyReplicas"] == 2
    assert odep["status"]["selector"]

    generation = dep["metadata"]["generation"]
    cluster.kubectl(
        "patch",
        "instancetype",
        itype,
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"limits":{"memory":"3Gi"}}}}',
    )

    def rolled() -> dict[str, Any] | None:
        d = get(cluster, "deployment", "ep1-blue", ns)
        c = next(c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "scoring")  # type: ignore[index]
        return (
            d
            if d and d["metadata"]["generation"] > generation and c["resources"]["limits"]["memory"] == "3Gi"
            else None
        )

    wait_for(rolled, what="Deployment template updated from the InstanceType")
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    cluster.kubectl("delete", "instancetype", itype, "--wait=false")


def test_gpu_deployment_is_scheduled_on_the_gpu_node(cluster: Any, namespace: str) -> None:
    ns = namespace
    itype = f"gpu-{ns[-6:]}"
    cluster.apply(
        {
            "apiVersion": API,
            "kind": "InstanceType",
            "metadata": {"name": itype},
            "spec": {
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1}},
            },
        }
    )
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue", instanceType=itype),
        ]
    )
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"]
    assert pods
    assert {p["spec"]["nodeName"] for p in pods} == {"kwok-gpu-0"}
    limits = next(c for c in pods[0]["spec"]["containers"] if c["name"] == "scoring")["resources"]["limits"]
    assert str(limits["nvidia.com/gpu"]) == "1"
    cluster.kubectl("delete", "instancetype", itype, "--wait=false")


def _keys(cluster: Any, ns: str) -> dict[str, str]:
    secret = get(cluster, "secret", "ep1-keys", ns)
    return dict((secret or {}).get("data") or {})


def test_keys_are_created_once_mounted_and_regenerated_on_annotation(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue"),
        ]
    )
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready")
    assert ep["status"]["keysSecretName"] == "ep1-keys"
    first = wait_for(lambda: _keys(cluster, ns), what="keys Secret")
    assert set(first) == {"primaryKey", "secondaryKey"}
    assert first["primaryKey"] != first["secondaryKey"]
    assert "primaryKey" not in json.dumps(ep["status"]) or first["primaryKey"] not in json.dumps(ep["status"])
    dep = get(cluster, "deployment", "ep1-blue", ns)
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}  # type: ignore[index]
    assert any(v.get("secret", {}).get("secretName") == "ep1-keys" for v in volumes.values())

    cluster.kubectl("patch", "oep", "ep1", "-n", ns, "--type=merge", "-p", '{"spec":{"description":"touch"}}')
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    assert _keys(cluster, ns) == first  # generated once

    cluster.kubectl("annotate", "oep", "ep1", "-n", ns, "mlendpoints.io/regenerate-keys=secondary")
    second = wait_for(
        lambda: (k := _keys(cluster, ns)) and k["secondaryKey"] != first["secondaryKey"] and k,
        what="secondary key regenerated",
    )
    assert second["primaryKey"] == first["primaryKey"]


def test_unknown_instance_type_is_stalled_and_recovers(cluster: Any, namespace: str) -> None:
    ns = namespace
    missing = f"missing-{ns[-6:]}"
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, routing={"type": "none"}),
            deployment(ns, "blue", instanceType=missing),
        ]
    )
    dep = wait_condition(cluster, "odep", "blue", ns, "Stalled", reason="UnknownInstanceType")
    assert missing in condition(dep, "Stalled")["message"]  # type: ignore[index]
    assert condition(dep, "Ready")["status"] == "False"  # type: ignore[index]
    assert condition(dep, "Reconciling") is None
    events = cluster.kubectl_json("get", "events", "-n", ns, "--field-selector", "involvedObject.name=blue")[
        "items"
    ]
    assert any(e["reason"] == "UnknownInstanceType" for e in events)
    cluster.apply({"apiVersion": API, "kind": "InstanceType", "metadata": {"name": missing}, "spec": {}})
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    cluster.kubectl("delete", "instancetype", missing, "--wait=false")


def test_image_that_never_becomes_ready_is_stalled(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, routing={"type": "none"}),
            deployment(ns, "blue", environment={"image": "registry.invalid/nope:1"}),
        ]
    )
    pod = wait_for(
        lambda: (
            (
                p := cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")[
                    "items"
                ]
            )
            and p[0]
        ),
        what="pod",
    )
    # kwok runs no containers: play the kubelet that cannot pull the image.
    status = {
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "scoring",
                    "image": "registry.invalid/nope:1",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}},
                }
            ],
        }
    }
    wait_for(lambda: condition(get(cluster, "odep", "blue", ns), "Ready") is not None, what="first status")
    cluster.kubectl(
        "patch",
        "pod",
        pod["metadata"]["name"],
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    dep = wait_condition(cluster, "odep", "blue", ns, "Stalled", reason="ImagePullFailed")
    assert "ImagePullBackOff" in condition(dep, "Stalled")["message"]  # type: ignore[index]


def test_deleting_the_endpoint_garbage_collects_everything(cluster: Any, namespace: str) -> None:
    ns = namespace
    setup_blue_green(cluster, ns, {"blue": 100})
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    odep = get(cluster, "odep", "blue", ns)
    assert any(
        r["kind"] == "OnlineEndpoint" and r["name"] == "ep1" for r in odep["metadata"]["ownerReferences"]
    )  # type: ignore[index]
    cluster.kubectl("delete", "oep", "ep1", "-n", ns, "--wait=false")

    def gone() -> bool:
        left = cluster.kubectl(
            "get",
            "odep,deployment,service,httproute,secret",
            "-n",
            ns,
            "-l",
            "app.kubernetes.io/part-of=mlendpoints",
            "-o",
            "name",
        ).stdout.split()
        odeps = cluster.kubectl("get", "odep", "-n", ns, "-o", "name").stdout.split()
        return not left and not odeps

    wait_for(gone, timeout=90, what="garbage collection of the endpoint's objects")


def test_deleting_a_deployment_with_traffic_is_reported_and_the_route_keeps_working(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    setup_blue_green(cluster, ns, {"blue": 50, "green": 50})
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    cluster.kubectl("delete", "odep", "green", "-n", ns)
    ep = wait_condition(cluster, "oep", "ep1", ns, "Stalled", reason="DeletingWithTraffic")
    assert "green" in condition(ep, "Stalled")["message"]  # type: ignore[index]
    assert route_weights(get(cluster, "httproute", "ep1", ns)) == {"ep1-blue": 100}  # type: ignore[arg-type]
    events = cluster.kubectl_json("get", "events", "-n", ns, "--field-selector", "involvedObject.name=ep1")[
        "items"
    ]
    assert any(e["reason"] == "DeletingWithTraffic" for e in events)


def test_operator_restart_and_idle_reconciles_perform_zero_writes(
    cluster: Any, namespace: str, operator: OperatorProcess
) -> None:
    if not cluster.is_local or operator.user is None:
        pytest.skip("needs the local cluster's audit log")
    ns = namespace
    setup_blue_green(cluster, ns, {"blue": 90, "green": 10}, mirrorTraffic={})
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    wait_condition(cluster, "odep", "green", ns, "Ready")
    # Let trailing events settle, then restart and watch the audit log.
    mark = cluster.audit_mark()
    operator.restart()
    # Touching the endpoint's metadata (not spec) triggers a full reconcile pass without changes.
    cluster.kubectl("label", "oep", "ep1", "-n", ns, "touched=yes")
    # The new process has reconciled everything once (and the touched endpoint again) and is idle.
    wait_for(
        lambda: _reconciled(operator, {"OnlineEndpoint": 2, "OnlineDeployment": 2}),
        what="reconciles after restart",
    )
    writes = [
        e
        for e in cluster.audit_events(mark, user=operator.user)
        # Only this test's namespace: other tests' objects (and the cluster-scoped InstanceTypes they
        # use) legitimately change meanwhile, since the whole suite shares one cluster.
        if (e.get("objectRef") or {}).get("namespace") == ns
        and (e.get("objectRef") or {}).get("resource") != "events"
    ]
    described = [f"{e['verb']} {e['objectRef'].get('resource')}/{e['objectRef'].get('name')}" for e in writes]
    assert writes == [], described


def _reconciled(operator: OperatorProcess, minimum: dict[str, int]) -> bool:
    counts: dict[str, float] = {}
    depth = None
    for line in operator.metrics().splitlines():
        if line.startswith("mlendpoints_reconcile_total{"):
            kind = line.split('kind="')[1].split('"')[0]
            counts[kind] = counts.get(kind, 0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("mlendpoints_reconcile_queue_depth "):
            depth = float(line.rsplit(" ", 1)[1])
    return depth == 0 and all(counts.get(k, 0) >= n for k, n in minimum.items())


def test_an_existing_object_with_a_childs_name_is_never_taken_over(cluster: Any, namespace: str) -> None:
    ns = namespace
    mine = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ep1-blue", "namespace": ns},
        "spec": {"selector": {"app": "mine"}, "ports": [{"port": 8080}]},
    }
    cluster.apply(mine)
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue"),
        ]
    )
    dep = wait_condition(cluster, "odep", "blue", ns, "Stalled", reason="NameConflict")
    assert "ep1-blue" in condition(dep, "Stalled")["message"]  # type: ignore[index]
    svc = get(cluster, "service", "ep1-blue", ns)
    assert svc is not None
    assert svc["spec"]["selector"] == {"app": "mine"}


def test_switching_to_autoscaling_keeps_the_replica_count(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing={"type": "none"}),
            deployment(ns, "blue", instanceCount=3),
        ]
    )
    wait_condition(cluster, "odep", "blue", ns, "Ready")
    cluster.apply(
        deployment(
            ns,
            "blue",
            instanceCount=3,
            scaleSettings={"type": "targetUtilization", "minInstances": 2, "maxInstances": 5},
        )
    )
    wait_for(lambda: get(cluster, "hpa", "ep1-blue", ns), what="HPA")
    dep = cluster.kubectl_json("get", "deployment", "ep1-blue", "-n", ns, "--show-managed-fields")
    # Our manager no longer owns replicas, and the count did not fall back to 1.
    assert dep["spec"]["replicas"] == 3
    owners = [
        m["manager"]
        for m in dep["metadata"]["managedFields"]
        if "f:replicas" in (m.get("fieldsV1") or {}).get("f:spec", {})
    ]
    assert "mlendpoints-operator" not in owners


def test_a_child_the_api_server_rejects_is_reported_as_stalled(cluster: Any, namespace: str) -> None:
    ns = namespace
    # Environment variable names may not contain '='; only the API server's Deployment validation says so.
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, routing={"type": "none"}),
            deployment(ns, "blue", environmentVariables={"BAD=NAME": "x"}),
        ]
    )
    dep = wait_condition(cluster, "odep", "blue", ns, "Stalled", reason="InvalidSpec")
    assert "BAD=NAME" in condition(dep, "Stalled")["message"]  # type: ignore[index]
    # Fixing the spec recovers.
    cluster.apply(deployment(ns, "blue", environmentVariables={"GOOD_NAME": "x"}))
    wait_condition(cluster, "odep", "blue", ns, "Ready")


def test_a_custom_containers_scoring_route_is_the_endpoints_scoring_uri(cluster: Any, namespace: str) -> None:
    ns = namespace
    predict = "/v1/models/half_plus_two:predict"
    status_path = "/v1/models/half_plus_two"
    routes = {
        "scoringRoute": {"port": 8501, "path": predict},
        "livenessRoute": {"port": 8501, "path": status_path},
        "readinessRoute": {"port": 8501, "path": status_path},
    }
    tfserving = {
        "apiVersion": API,
        "kind": "OnlineDeployment",
        "metadata": {"name": "tfserving", "namespace": ns},
        "spec": {
            "endpointName": "ep1",
            "environment": {"image": "tensorflow/serving:2.14.1", "inferenceConfig": routes},
        },
    }
    gateway = {"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]}
    cluster.apply([code_configmap(ns), endpoint(ns, traffic={"tfserving": 100}, routing=gateway), tfserving])
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready")
    assert ep["status"]["scoringUri"].endswith(f"/endpoints/{ns}/ep1{predict}"), ep["status"]
    assert ep["status"]["swaggerUri"].endswith(f"/endpoints/{ns}/ep1/swagger.json"), ep["status"]
    # A runtime deployment taking the majority makes /score the endpoint's scoring URI.
    cluster.apply(
        [deployment(ns, "blue"), endpoint(ns, traffic={"tfserving": 10, "blue": 90}, routing=gateway)]
    )

    def blue_serving() -> dict[str, Any] | None:
        ep = get(cluster, "oep", "ep1", ns) or {}
        return ep if ep.get("status", {}).get("traffic") == {"tfserving": 10, "blue": 90} else None

    ep = wait_for(blue_serving, what="blue taking 90%")
    assert ep["status"]["scoringUri"].endswith(f"/endpoints/{ns}/ep1/score"), ep["status"]
