"""Pure rules of rollout safety: weight follows available pods; Gateway/route/Ingress status judged.

No cluster: the renderer and ``status/dependencies.py`` are pure. The same behaviour is checked
on the real control plane in tests/integration/test_rollout_*.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlendpoints.render.online import DeploymentState
from mlendpoints.status import dependencies as dep
from mlendpoints.status import reasons
from mlendpoints.status.conditions import State
from tests.unit.render.builders import endpoint
from tests.unit.render.test_endpoint import GW, render, weights


def selector(r: Any) -> str:
    svc = next(o for o in r.objects if o["kind"] == "Service")
    return str(svc["spec"]["selector"]["mlendpoints.io/deployment"])


def test_a_deployment_rolling_out_keeps_its_weight_while_it_has_an_available_pod() -> None:
    ep = endpoint(traffic={"blue": 90, "green": 10}, routing=GW)
    r = render(
        ep, [DeploymentState("blue", ready=False, available=2), DeploymentState("green", True, available=1)]
    )
    assert r.effective_traffic == {"blue": 90, "green": 10}
    assert weights(r) == {"ep1-blue": 90, "ep1-green": 10}
    assert selector(r) == "blue"
    assert r.waiting == []


def test_a_deployment_with_no_available_pod_gets_no_weight_even_if_its_condition_says_ready() -> None:
    ep = endpoint(traffic={"blue": 90, "green": 10}, routing=GW)
    r = render(ep, [DeploymentState("blue", True, available=1), DeploymentState("green", True, available=0)])
    assert r.effective_traffic == {"blue": 100, "green": 0}
    assert r.waiting == ["green"]


def test_the_stable_service_never_selects_nothing_while_a_weighted_deployment_serves() -> None:
    ep = endpoint(traffic={"blue": 100}, routing={"type": "none"})
    r = render(ep, [DeploymentState("blue", ready=False, available=1)])
    assert selector(r) == "blue"
    # no available pod: still blue (the desired primary), whose pods are not Ready, so the Service
    # has no endpoints until they are, and is not rewritten then
    assert selector(render(ep, [DeploymentState("blue", ready=False, available=0)])) == "blue"
    assert selector(render(ep, [])) == "blue"


def gw(
    programmed: str | None = "True", generation: int = 1, observed: int = 1, **status: Any
) -> dict[str, Any]:
    conds = (
        []
        if programmed is None
        else [
            {
                "type": "Programmed",
                "status": programmed,
                "reason": "Why",
                "message": "msg",
                "observedGeneration": observed,
            }
        ]
    )
    return {
        "metadata": {"name": "gw", "namespace": "infra", "generation": generation},
        "status": {"conditions": conds, **status},
    }


@pytest.mark.parametrize(
    ("gateway", "reason"),
    [
        (None, reasons.GATEWAY_NOT_FOUND),
        (gw(None), reasons.GATEWAY_NOT_PROGRAMMED),
        (gw("Unknown"), reasons.GATEWAY_NOT_PROGRAMMED),
        (gw("False"), reasons.GATEWAY_NOT_PROGRAMMED),
        (gw("True", generation=2, observed=1), reasons.GATEWAY_NOT_PROGRAMMED),
        (gw("True"), None),
    ],
)
def test_gateway_must_exist_and_be_programmed_for_its_generation(gateway: Any, reason: str | None) -> None:
    found = dep.gateway_problem({"name": "gw", "namespace": "infra"}, gateway, route_namespace="team")
    assert (found.reason if found else None) == reason
    if found is not None:
        assert "Gateway infra/gw" in found.message
        assert not found.permanent


def route(*conds: tuple[str, str, str], generation: int = 3, observed: int = 3) -> dict[str, Any]:
    ref = {"name": "gw"}
    entry = {
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"},
        "controllerName": "x/y",
        "conditions": [
            {"type": t, "status": s, "reason": r, "message": f"{r} said", "observedGeneration": observed}
            for t, s, r in conds
        ],
    }
    return {
        "metadata": {"name": "ep1", "namespace": "team", "generation": generation},
        "spec": {"parentRefs": [ref]},
        "status": {"parents": [entry] if conds else []},
    }


OK = ("Accepted", "True", "Accepted"), ("ResolvedRefs", "True", "ResolvedRefs")


@pytest.mark.parametrize(
    ("obj", "reason", "permanent"),
    [
        (route(), reasons.WAITING_FOR_ROUTE, False),
        (route(*OK, generation=4), reasons.WAITING_FOR_ROUTE, False),
        (route(("Accepted", "False", "Pending"), OK[1]), reasons.WAITING_FOR_ROUTE, False),
        (route(("Accepted", "False", "NotAllowedByListeners"), OK[1]), reasons.ROUTE_NOT_ACCEPTED, True),
        (route(OK[0], ("ResolvedRefs", "False", "BackendNotFound")), reasons.ROUTE_REFS_UNRESOLVED, False),
        (route(*OK), None, False),
    ],
)
def test_route_must_be_accepted_with_resolved_refs_for_each_parent(
    obj: Any, reason: Any, permanent: bool
) -> None:
    found = dep.route_problems(obj)
    assert [p.reason for p in found] == ([reason] if reason else [])
    if found:
        assert found[0].permanent is permanent
        assert "team/gw" in found[0].message


def test_rejection_message_carries_the_gateways_reason_and_message() -> None:
    (found,) = dep.route_problems(route(("Accepted", "False", "NotAllowedByListeners"), OK[1]))
    assert "NotAllowedByListeners: NotAllowedByListeners said" in found.message


def test_ingress_needs_a_load_balancer_address() -> None:
    ing = {"metadata": {"name": "ep1"}, "spec": {"ingressClassName": "nginx"}, "status": {"loadBalancer": {}}}
    found = dep.ingress_problem(ing)
    assert found is not None
    assert found.reason == reasons.INGRESS_NOT_ADMITTED
    assert "nginx" in found.message
    ing["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
    assert dep.ingress_problem(ing) is None
    assert dep.ingress_address(ing) == "10.0.0.1"


def test_gateway_address_adds_a_non_default_listener_port() -> None:
    g = {
        "spec": {
            "listeners": [
                {"name": "web", "protocol": "HTTP", "port": 8000},
                {"name": "tls", "protocol": "HTTPS", "port": 443},
            ]
        },
        "status": {"addresses": [{"type": "IPAddress", "value": "10.1.2.3"}]},
    }
    assert dep.gateway_address(g, section=None, https=False) == "10.1.2.3:8000"
    assert dep.gateway_address(g, section="tls", https=True) == "10.1.2.3"
    # a TLS endpoint without sectionName is served on the HTTPS listener, not the first one
    assert dep.gateway_address(g, section=None, https=True) == "10.1.2.3"
    assert dep.gateway_listener(g, section=None, https=True) == g["spec"]["listeners"][1]
    assert dep.gateway_listener(g, section="missing", https=False) is None
    assert dep.gateway_address({"status": {}}, section=None, https=False) is None


def test_verdict_reconciles_within_the_grace_period_and_stalls_after_it() -> None:
    missing = dep.Problem(reasons.DEPLOYMENT_NOT_FOUND, "OnlineDeployment purple does not exist")
    early = dep.verdict([missing], waited={reasons.DEPLOYMENT_NOT_FOUND: 5}, grace=120)
    late = dep.verdict([missing], waited={reasons.DEPLOYMENT_NOT_FOUND: 121}, grace=120)
    restarted = dep.verdict([missing], waited={}, grace=120, stalled_before=[reasons.DEPLOYMENT_NOT_FOUND])
    assert early is not None
    assert early.state is State.PROGRESSING
    assert late is not None
    assert late.state is State.STALLED
    assert "purple" in late.message
    assert restarted is not None
    assert restarted.state is State.STALLED
    assert dep.verdict([], waited={}, grace=120) is None


def test_a_rollout_never_stalls_the_endpoint_by_time_alone_but_a_rejection_does_at_once() -> None:
    rolling = dep.Problem(reasons.WAITING_FOR_DEPLOYMENTS, "deployment blue is not Ready yet")
    rejected = dep.Problem(reasons.ROUTE_NOT_ACCEPTED, "rejected", permanent=True)
    found = dep.verdict(
        [rolling],
        waited={reasons.WAITING_FOR_DEPLOYMENTS: 10_000},
        grace=1,
        stalled_before=[reasons.WAITING_FOR_DEPLOYMENTS],
    )
    assert found is not None
    assert found.state is State.PROGRESSING
    both = dep.verdict([rolling, rejected], waited={}, grace=120)
    assert both is not None
    assert both.state is State.STALLED
    assert both.reason == reasons.ROUTE_NOT_ACCEPTED
