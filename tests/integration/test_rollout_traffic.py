"""Rollout safety on the real control plane: traffic never leaves a deployment that still serves.

Inputs: endpoints and deployments applied with kubectl; pods made unavailable the way a cluster
does it (cordoned nodes, an InstanceType no node matches, a kubelet reporting CrashLoopBackOff,
played on kwok's pods through the status subresource). Outputs checked at *every* observation
while the change is in progress: ``status.traffic``, the stable Service's selector and the
HTTPRoute's weights; the problem itself must show in conditions, never as moved traffic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import STALL_AFTER, condition, get, wait_condition, wait_for
from tests.integration.test_online import API, code_configmap, deployment, endpoint, route_weights

pytestmark = pytest.mark.usefixtures("operator", "fake_gateway")
GATEWAY = {"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]}

Observation = dict[str, Any]


def observe(cluster: Any, ns: str) -> Observation:
    """What clients get right now: effective traffic, stable Service selector, route weights."""
    ep = get(cluster, "oep", "ep1", ns) or {}
    svc = get(cluster, "service", "ep1", ns) or {}
    route = get(cluster, "httproute", "ep1", ns)
    return {
        "traffic": {k: v for k, v in (ep.get("status") or {}).get("traffic", {}).items() if v},
        "selector": ((svc.get("spec") or {}).get("selector") or {}).get("mlendpoints.io/deployment"),
        "weights": route_weights(route) if route else {},
        "endpoint": ep,
    }


def watch_until(
    cluster: Any,
    ns: str,
    done: Callable[[Observation], bool],
    check: Callable[[Observation], None],
    *,
    what: str,
    timeout: float = 120,
) -> list[Observation]:
    """Observe until ``done``; ``check`` (assertions) runs on every observation, the last included."""
    seen: list[Observation] = []
    deadline = time.monotonic() + timeout
    while True:
        obs = observe(cluster, ns)
        seen.append(obs)
        check(obs)
        if done(obs):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} after {len(seen)} observations: {obs!r}")
        time.sleep(0.3)


def keeps(traffic: dict[str, int]) -> Callable[[Observation], None]:
    """The invariant: the desired split, the stable Service on the largest, the route matching."""
    primary = sorted(traffic, key=lambda k: (-traffic[k], k))[0]

    def check(obs: Observation) -> None:
        assert obs["traffic"] == traffic, obs["traffic"]
        assert obs["selector"] == primary, obs["selector"]
        assert obs["weights"] == {f"ep1-{k}": v for k, v in traffic.items()}, obs["weights"]

    return check


def cond_is(obs: Observation, type_: str, reason: str) -> bool:
    c = condition(obs["endpoint"], type_)
    ep = obs["endpoint"]
    current = ep.get("status", {}).get("observedGeneration") == ep["metadata"]["generation"]
    return bool(c and c["status"] == "True" and c["reason"] == reason and current)


def nowhere_instance_type(cluster: Any, ns: str) -> str:
    name = f"nowhere-{ns[-6:]}"
    spec = {"nodeSelector": {"pool": "does-not-exist"}}
    cluster.apply({"apiVersion": API, "kind": "InstanceType", "metadata": {"name": name}, "spec": spec})
    return name


def kwok_nodes(cluster: Any) -> list[str]:
    return [
        n.split("/", 1)[1]
        for n in cluster.kubectl("get", "nodes", "-l", "type=kwok", "-o", "name").stdout.split()
    ]


def test_rolling_out_the_90_percent_deployment_keeps_the_split(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 90, "green": 10}, routing=GATEWAY),
            deployment(ns, "blue"),
            deployment(ns, "green"),
        ]
    )
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    invariant = keeps({"blue": 90, "green": 10})
    invariant(observe(cluster, ns))
    # Cordoned nodes make blue's new pod wait (a long model download does the same): the
    # rollout stays in progress while blue's old pod keeps serving.
    nodes = kwok_nodes(cluster)
    cluster.kubectl("cordon", *nodes)
    try:
        cluster.apply(deployment(ns, "blue", environmentVariables={"MODEL_VARIANT": "2"}))
        seen = watch_until(
            cluster,
            ns,
            lambda o: cond_is(o, "Stalled", "DeploymentStalled"),
            invariant,
            what="the endpoint to report blue's stuck rollout",
        )
        message = condition(seen[-1]["endpoint"], "Stalled")["message"]  # type: ignore[index]
        assert "blue" in message, message
        assert "keep its 90%" in message, message
        blue = get(cluster, "odep", "blue", ns)
        assert condition(blue, "Stalled")["reason"] == "Unschedulable"  # type: ignore[index]
        watch_until(cluster, ns, lambda o: True, invariant, what="one more observation")
    finally:
        cluster.kubectl("uncordon", *nodes)
    # The rollout completes; at no point does green (the 10% canary) get more than 10.
    watch_until(
        cluster, ns, lambda o: cond_is(o, "Ready", "Ready"), invariant, what="Ready after the rollout"
    )
    dep = get(cluster, "deployment", "ep1-blue", ns)
    env = dep["spec"]["template"]["spec"]["containers"][0].get("env", [])  # type: ignore[index]
    assert {"name": "MODEL_VARIANT", "value": "2"} in env


def test_an_instance_type_no_node_matches_does_not_take_traffic_from_serving_pods(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    nowhere = nowhere_instance_type(cluster, ns)
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing=GATEWAY),
            deployment(ns, "blue", instanceCount=2),
        ]
    )
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    invariant = keeps({"blue": 100})
    cluster.apply(deployment(ns, "blue", instanceCount=2, instanceType=nowhere))
    seen = watch_until(
        cluster,
        ns,
        lambda o: cond_is(o, "Stalled", "DeploymentStalled"),
        invariant,
        what="the endpoint to report blue stalled",
    )
    message = condition(seen[-1]["endpoint"], "Stalled")["message"]  # type: ignore[index]
    assert "blue" in message, message
    assert "2 available pod(s)" in message, message
    assert condition(get(cluster, "odep", "blue", ns), "Stalled")["reason"] == "Unschedulable"  # type: ignore[index]
    summary = {d["name"]: d for d in seen[-1]["endpoint"]["status"]["deployments"]}
    assert summary["blue"]["availableReplicas"] == 2
    # Back to a usable profile: the rollout finishes and the endpoint is Ready, still serving blue.
    cluster.apply(deployment(ns, "blue", instanceCount=2))
    watch_until(cluster, ns, lambda o: cond_is(o, "Ready", "Ready"), invariant, what="Ready again")
    cluster.kubectl("delete", "instancetype", nowhere, "--wait=false")


def test_one_crash_looping_pod_of_two_leaves_the_healthy_one_serving(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 100}, routing=GATEWAY),
            deployment(ns, "blue", instanceCount=2),
        ]
    )
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    invariant = keeps({"blue": 100})
    pod = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"][0]
    # kwok runs no containers: play the kubelet of a container that keeps crashing.
    crashing = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "scoring",
                    "image": pod["spec"]["containers"][0]["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                }
            ],
        }
    }
    cluster.kubectl(
        "patch", "pod", pod["metadata"]["name"], "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps(crashing),
    )  # fmt: skip
    seen = watch_until(
        cluster,
        ns,
        lambda o: cond_is(o, "Stalled", "DeploymentStalled"),
        invariant,
        what="the endpoint to report the crash loop",
    )
    message = condition(seen[-1]["endpoint"], "Stalled")["message"]  # type: ignore[index]
    assert "blue" in message, message
    assert "crash-looping" in message, message
    dep = get(cluster, "deployment", "ep1-blue", ns)
    assert dep["status"]["availableReplicas"] == 1  # type: ignore[index]
    watch_until(cluster, ns, lambda o: len(o) > 0, invariant, what="one more observation")


def test_a_new_deployment_gets_its_weight_only_once_a_pod_is_available(cluster: Any, namespace: str) -> None:
    ns = namespace
    nowhere = nowhere_instance_type(cluster, ns)
    cluster.apply(
        [code_configmap(ns), endpoint(ns, traffic={"blue": 100}, routing=GATEWAY), deployment(ns, "blue")]
    )
    wait_condition(cluster, "oep", "ep1", ns, "Ready")
    cluster.apply(
        [
            deployment(ns, "green", instanceType=nowhere),
            endpoint(ns, traffic={"blue": 90, "green": 10}, routing=GATEWAY),
        ]
    )

    def green_available() -> int:
        dep = get(cluster, "deployment", "ep1-green", ns)
        return int(((dep or {}).get("status") or {}).get("availableReplicas") or 0)

    before, after = {"blue": 100}, {"blue": 90, "green": 10}

    def gated(obs: Observation) -> None:
        # Either split, never anything else; green's share only once it has an available pod. The
        # endpoint is read before the Deployment, so the availability read is never the older one.
        assert obs["traffic"] in (before, after), obs["traffic"]
        assert obs["weights"] in ({"ep1-blue": 100}, {"ep1-blue": 90, "ep1-green": 10}), obs["weights"]
        if obs["traffic"].get("green") or "ep1-green" in obs["weights"]:
            assert green_available() > 0, obs
        assert obs["selector"] == "blue"

    seen = watch_until(
        cluster,
        ns,
        lambda o: cond_is(o, "Stalled", "DeploymentStalled"),
        gated,
        what="green reported stalled",
    )
    message = condition(seen[-1]["endpoint"], "Stalled")["message"]  # type: ignore[index]
    assert "green" in message, message
    assert "no available pod" in message, message
    # Make the profile usable: green's pod is scheduled, becomes available, and only then gets 10%.
    cluster.kubectl(
        "patch",
        "instancetype",
        nowhere,
        "--type=merge",
        "-p",
        '{"spec":{"nodeSelector":{"pool":null,"type":"kwok"}}}',
    )
    seen = watch_until(cluster, ns, lambda o: cond_is(o, "Ready", "Ready"), gated, what="green serving")
    keeps({"blue": 90, "green": 10})(seen[-1])
    cluster.kubectl("delete", "instancetype", nowhere, "--wait=false")


def test_traffic_to_a_deployment_that_does_not_exist_is_named_then_stalled(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    cluster.apply(
        [
            code_configmap(ns),
            endpoint(ns, traffic={"blue": 90, "purple": 10}, mirrorTraffic={"ghost": 10}, routing=GATEWAY),
            deployment(ns, "blue"),
        ]
    )
    ep = wait_condition(cluster, "oep", "ep1", ns, "Reconciling", reason="DeploymentNotFound")
    message = condition(ep, "Reconciling")["message"]  # type: ignore[index]
    assert "OnlineDeployment purple does not exist" in message, message
    assert "OnlineDeployment ghost does not exist" in message, message
    ep = wait_condition(
        cluster, "oep", "ep1", ns, "Stalled", reason="DeploymentNotFound", timeout=STALL_AFTER + 60
    )
    assert "OnlineDeployment purple does not exist" in condition(ep, "Stalled")["message"]  # type: ignore[index]
    assert {k: v for k, v in ep["status"]["traffic"].items() if v} == {"blue": 100}
    # GitOps applies the deployments late: the endpoint recovers by itself.
    cluster.apply([deployment(ns, "purple"), deployment(ns, "ghost")])
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready")
    assert ep["status"]["traffic"] == {"blue": 90, "purple": 10}
    assert ep["status"]["mirrorTraffic"] == {"ghost": 10}
    wait_for(lambda: condition(get(cluster, "oep", "ep1", ns), "Stalled") is None, what="Stalled removed")
