"""The endpoint's children: stable Service, keys Secret, HTTPRoute / Ingress, Ready gating."""

from __future__ import annotations

from typing import Any

import pytest

from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.render import online
from mlendpoints.render.online import DeploymentState, EndpointRender
from mlendpoints.render.settings import RenderSettings
from tests.unit.render.builders import endpoint

GW = {
    "type": "gatewayAPI",
    "parentRefs": [{"name": "ml-gateway", "namespace": "gateways"}],
    "host": "ep1.ml.example.com",
}


def render(
    ep: OnlineEndpoint,
    states: list[DeploymentState],
    *,
    keys: tuple[str, str] | None = ("k1", "k2"),
    gateway: bool = True,
    **kw: Any,
) -> EndpointRender:
    return online.endpoint_children(
        ep,
        deployments=states,
        keys=keys,
        gateway_api_available=gateway,
        settings=kw.pop("settings", RenderSettings()),
        **kw,
    )


def ready(*names: str) -> list[DeploymentState]:
    return [DeploymentState(n, ready=True) for n in names]


def by_kind(r: EndpointRender, kind: str) -> list[dict[str, Any]]:
    return [o for o in r.objects if o["kind"] == kind]


def route(r: EndpointRender) -> dict[str, Any]:
    (only,) = by_kind(r, "HTTPRoute")
    return only


def rule(r: EndpointRender, name: str) -> dict[str, Any]:
    return next(x for x in route(r)["spec"]["rules"] if x["name"] == name)


def weights(r: EndpointRender) -> dict[str, int]:
    return {b["name"]: b["weight"] for b in rule(r, "default")["backendRefs"]}


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        ({"blue": 100, "green": 0}, {"ep1-blue": 100}),
        ({"blue": 90, "green": 10}, {"ep1-blue": 90, "ep1-green": 10}),
        ({"blue": 0, "green": 100}, {"ep1-green": 100}),
    ],
)
def test_httproute_weights(traffic: dict[str, int], expected: dict[str, int]) -> None:
    r = render(endpoint(traffic=traffic, routing=GW), ready("blue", "green"))
    assert r.routing == "gatewayAPI"
    assert weights(r) == expected
    assert r.effective_traffic == traffic
    assert not r.problems
    assert not r.waiting


def test_httproute_shape() -> None:
    r = render(endpoint(traffic={"blue": 100}, routing=GW), ready("blue"))
    rt = route(r)
    assert rt["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert rt["metadata"]["name"] == "ep1"
    assert rt["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "ml-gateway",
            "namespace": "gateways",
        }
    ]
    assert rt["spec"]["hostnames"] == ["ep1.ml.example.com"]
    assert rule(r, "default")["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule(r, "default")["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "ep1-blue", "port": 80, "weight": 100}
    ]
    assert r.scoring_uri == "http://ep1.ml.example.com/score"
    assert r.swagger_uri == "http://ep1.ml.example.com/swagger.json"


def test_header_pin_rule_for_every_existing_deployment() -> None:
    states = [
        *ready("blue", "green"),
        DeploymentState("canary", ready=False),
        DeploymentState("old", True, deleting=True),
    ]
    r = render(endpoint(traffic={"blue": 100}, routing=GW), states)
    for name in ("blue", "green", "canary"):  # at 0 %, not in traffic, not Ready: pinnable while it exists
        pin = rule(r, f"pin-{name}")
        assert pin["matches"] == [
            {
                "path": {"type": "PathPrefix", "value": "/"},
                "headers": [{"type": "Exact", "name": "azureml-model-deployment", "value": name}],
            }
        ]
        assert pin["backendRefs"] == [{"group": "", "kind": "Service", "name": f"ep1-{name}", "port": 80}]
    assert all(x["name"] != "pin-old" for x in route(r)["spec"]["rules"])


def test_mirror_filter_on_the_default_rule() -> None:
    ep = endpoint(traffic={"main": 100}, mirrorTraffic={"shadow": 10}, routing=GW)
    r = render(ep, ready("main", "shadow"))
    assert rule(r, "default")["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": "ep1-shadow", "port": 80},
                "percent": 10,
            },
        }
    ]
    assert r.effective_mirror == {"shadow": 10}


def test_mirror_waits_for_a_ready_target() -> None:
    ep = endpoint(traffic={"main": 100}, mirrorTraffic={"shadow": 10}, routing=GW)
    r = render(ep, [*ready("main"), DeploymentState("shadow", ready=False)])
    assert "filters" not in rule(r, "default")
    assert r.effective_mirror == {"shadow": 0}
    assert r.waiting == ["shadow"]


def test_not_ready_green_gets_no_traffic_and_is_waited_for() -> None:
    r = render(
        endpoint(traffic={"blue": 90, "green": 10}, routing=GW),
        [*ready("blue"), DeploymentState("green", False)],
    )
    assert weights(r) == {"ep1-blue": 100}
    assert r.effective_traffic == {"blue": 100, "green": 0}
    assert r.waiting == ["green"]
    assert not r.problems


def test_missing_deployment_in_traffic_is_waited_for() -> None:
    r = render(endpoint(traffic={"blue": 50, "green": 50}, routing=GW), ready("blue"))
    assert r.effective_traffic == {"blue": 100, "green": 0}
    assert r.waiting == ["green"]
    assert all(x["name"] != "pin-green" for x in route(r)["spec"]["rules"])


def test_nothing_ready_sends_to_the_stable_service_of_the_desired_primary() -> None:
    """No pod is Ready, so the stable Service has no endpoints (503); it already selects the desired
    primary (the largest desired weight), so it need not be rewritten when that one comes up."""
    traffic = {"blue": 10, "green": 90}
    states = [DeploymentState("blue", ready=False), DeploymentState("green", ready=False)]
    r = render(endpoint(traffic=traffic, routing=GW), states)
    assert rule(r, "default")["backendRefs"] == [{"group": "", "kind": "Service", "name": "ep1", "port": 80}]
    (svc,) = by_kind(r, "Service")
    assert svc["spec"]["selector"] == {"mlendpoints.io/endpoint": "ep1", "mlendpoints.io/deployment": "green"}
    (after,) = by_kind(render(endpoint(traffic=traffic, routing=GW), ready("blue", "green")), "Service")
    assert after == svc


def test_the_stable_service_follows_what_serves() -> None:
    """Only blue serves: the stable Service selects blue, whatever the desired split says."""
    states = [DeploymentState("blue", ready=True), DeploymentState("green", ready=False)]
    r = render(endpoint(traffic={"blue": 10, "green": 90}, routing=GW), states)
    (svc,) = by_kind(r, "Service")
    assert svc["spec"]["selector"]["mlendpoints.io/deployment"] == "blue"


def test_zero_traffic_has_no_default_rule() -> None:
    r = render(endpoint(traffic={"blue": 0}, routing=GW), ready("blue"))
    assert [x["name"] for x in route(r)["spec"]["rules"]] == ["pin-blue"]
    r = render(endpoint(routing=GW), [])
    assert by_kind(r, "HTTPRoute") == []  # a route needs at least one rule


def test_no_host_uses_a_path_prefix_and_rewrite() -> None:
    gw = {"type": "gatewayAPI", "parentRefs": [{"name": "shared"}]}
    r = render(endpoint(traffic={"blue": 100}, routing=gw), ready("blue"))
    default = rule(r, "default")
    assert default["matches"] == [{"path": {"type": "PathPrefix", "value": "/endpoints/ml/ep1"}}]
    assert default["filters"][0] == {
        "type": "URLRewrite",
        "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
    }
    assert "hostnames" not in route(r)["spec"]
    assert rule(r, "pin-blue")["matches"][0]["path"]["value"] == "/endpoints/ml/ep1"
    assert r.scoring_uri == "http://shared/endpoints/ml/ep1/score"
    r = render(endpoint(traffic={"blue": 100}, routing=gw), ready("blue"), public_address="203.0.113.7")
    assert r.scoring_uri == "http://203.0.113.7/endpoints/ml/ep1/score"


def test_many_deployments_overflow_into_a_second_route() -> None:
    names = [f"dep{i:02d}" for i in range(20)]
    r = render(endpoint(traffic={"dep00": 100}, routing=GW), ready(*names))
    routes = by_kind(r, "HTTPRoute")
    assert [x["metadata"]["name"] for x in routes] == ["ep1", "ep1-pins-2"]
    assert all(len(x["spec"]["rules"]) <= 16 for x in routes)
    rules = [x["name"] for rt in routes for x in rt["spec"]["rules"]]
    assert sorted(rules) == sorted(["default", *(f"pin-{n}" for n in names)])


def test_gateway_api_without_parent_refs_is_a_problem_and_renders_no_route() -> None:
    r = render(endpoint(traffic={"blue": 100}, routing={"type": "gatewayAPI"}), ready("blue"))
    assert r.problems == [
        "routing.parentRefs is required for gatewayAPI (or configure the operator's default Gateway)"
    ]
    assert by_kind(r, "HTTPRoute") == []
    assert by_kind(r, "Service")  # the stable Service is still rendered


def test_gateway_api_without_crds_is_a_problem() -> None:
    r = render(endpoint(traffic={"blue": 100}, routing=GW), ready("blue"), gateway=False)
    assert any("does not serve the Gateway API" in p for p in r.problems)
    assert by_kind(r, "HTTPRoute") == []


def test_auto_routing() -> None:
    with_refs = {"parentRefs": [{"name": "gw"}]}
    assert render(endpoint(traffic={"blue": 100}, routing=with_refs), ready("blue")).routing == "gatewayAPI"
    assert (
        render(endpoint(traffic={"blue": 100}, routing=with_refs), ready("blue"), gateway=False).routing
        == "none"
    )
    assert render(endpoint(traffic={"blue": 100}), ready("blue")).routing == "none"  # no Gateway to attach to
    default_gw = RenderSettings(default_gateway="infra/shared")
    r = render(endpoint(traffic={"blue": 100}), ready("blue"), settings=default_gw)
    assert r.routing == "gatewayAPI"
    assert route(r)["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shared", "namespace": "infra"}
    ]


def test_routing_none_gives_an_in_cluster_url_to_the_primary() -> None:
    r = render(endpoint(traffic={"blue": 100}, routing={"type": "none"}), ready("blue"))
    assert r.routing == "none"
    assert [o["kind"] for o in r.objects] == ["Service", "Secret"]
    assert r.scoring_uri == "http://ep1.ml.svc.cluster.local/score"
    assert r.swagger_uri == "http://ep1.ml.svc.cluster.local/swagger.json"
    svc = by_kind(r, "Service")[0]
    assert svc["metadata"]["name"] == "ep1"
    assert svc["spec"]["selector"] == {"mlendpoints.io/endpoint": "ep1", "mlendpoints.io/deployment": "blue"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_routing_none_cannot_split_or_mirror() -> None:
    r = render(endpoint(traffic={"blue": 90, "green": 10}, routing={"type": "none"}), ready("blue", "green"))
    assert len(r.problems) == 1
    assert "cannot split" in r.problems[0]
    assert r.effective_traffic == {"blue": 100, "green": 0}  # what the stable Service really does
    r = render(
        endpoint(traffic={"blue": 100}, mirrorTraffic={"shadow": 5}, routing={"type": "none"}),
        ready("blue", "shadow"),
    )
    assert r.problems == ["mirrorTraffic needs routing gatewayAPI; routing is none"]
    assert r.effective_mirror == {"shadow": 0}


def test_stable_service_follows_the_largest_effective_traffic() -> None:
    ep = endpoint(traffic={"blue": 30, "green": 70}, routing=GW)

    def sel(r: EndpointRender) -> str:
        return str(by_kind(r, "Service")[0]["spec"]["selector"]["mlendpoints.io/deployment"])

    assert sel(render(ep, ready("blue", "green"))) == "green"
    assert sel(render(ep, [*ready("blue"), DeploymentState("green", False)])) == "blue"
    tie = endpoint(traffic={"green": 50, "blue": 50}, routing=GW)
    assert sel(render(tie, ready("blue", "green"))) == "blue"


def test_keys_secret_only_for_key_auth_with_keys() -> None:
    r = render(endpoint(traffic={"blue": 100}), ready("blue"), keys=("p", "s"))
    (secret,) = by_kind(r, "Secret")
    assert secret["metadata"]["name"] == "ep1-keys"
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == {"primaryKey": "p", "secondaryKey": "s"}
    assert by_kind(render(endpoint(traffic={"blue": 100}), ready("blue"), keys=None), "Secret") == []
    assert by_kind(render(endpoint(authMode="none"), ready("blue"), keys=("p", "s")), "Secret") == []


ING = {"type": "ingress", "ingressClassName": "nginx", "host": "ep1.example.com", "tlsSecretName": "ep1-tls"}


def test_ingress_with_two_deployments_uses_a_canary() -> None:
    r = render(endpoint(traffic={"blue": 80, "green": 20}, routing=ING), ready("blue", "green"))
    assert r.routing == "ingress"
    assert not r.problems
    main, canary = by_kind(r, "Ingress")
    assert main["metadata"]["name"] == "ep1"
    assert main["spec"]["ingressClassName"] == "nginx"
    assert main["spec"]["tls"] == [{"hosts": ["ep1.example.com"], "secretName": "ep1-tls"}]
    path = main["spec"]["rules"][0]["http"]["paths"][0]
    assert main["spec"]["rules"][0]["host"] == "ep1.example.com"
    assert path == {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": "ep1", "port": {"number": 80}}},
    }
    assert canary["metadata"]["name"] == "ep1-canary"
    assert canary["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "20",
        "nginx.ingress.kubernetes.io/canary-by-header": "azureml-model-deployment",
        "nginx.ingress.kubernetes.io/canary-by-header-value": "green",
    }
    assert canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "ep1-green"
    assert by_kind(r, "Service")[0]["spec"]["selector"]["mlendpoints.io/deployment"] == "blue"
    assert r.scoring_uri == "https://ep1.example.com/score"


def test_ingress_canary_not_ready_keeps_weight_zero() -> None:
    r = render(
        endpoint(traffic={"blue": 80, "green": 20}, routing=ING),
        [*ready("blue"), DeploymentState("green", False)],
    )
    canary = by_kind(r, "Ingress")[1]
    assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    assert r.waiting == ["green"]


def test_ingress_with_three_deployments_is_a_problem_without_routing_objects() -> None:
    r = render(
        endpoint(traffic={"red": 50, "blue": 30, "green": 20}, routing=ING), ready("red", "blue", "green")
    )
    assert len(r.problems) == 1
    assert r.problems[0].startswith("ingress routing supports at most 2 deployments")
    assert by_kind(r, "Ingress") == []
    assert by_kind(r, "Service")
    assert by_kind(r, "Secret")


def test_ingress_without_host_uses_a_rewritten_path() -> None:
    r = render(endpoint(traffic={"blue": 100}, routing={"type": "ingress"}), ready("blue"))
    (main,) = by_kind(r, "Ingress")
    assert main["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/use-regex": "true",
        "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
    }
    assert main["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/endpoints/ml/ep1(/|$)(.*)"
    assert r.scoring_uri == "http://ingress/endpoints/ml/ep1/score"


def test_wildcard_host_scoring_uri() -> None:
    gw = GW | {"host": "*.ml.example.com"}
    r = render(endpoint(traffic={"blue": 100}, routing=gw), ready("blue"))
    assert route(r)["spec"]["hostnames"] == ["*.ml.example.com"]
    assert r.scoring_uri == "http://ep1.ml.example.com/score"


def test_zero_percent_fallback_through_the_route() -> None:
    r = render(
        endpoint(traffic={"blue": 0, "green": 100}, routing=GW),
        [*ready("blue"), DeploymentState("green", False)],
    )
    assert weights(r) == {"ep1-blue": 100}
    assert r.waiting == ["green"]


def test_scoring_uri_carries_the_primary_custom_containers_scoring_route() -> None:
    predict = "/v1/models/half_plus_two:predict"
    tf = DeploymentState("tfserving", ready=True, scoring_path=predict)
    ep = endpoint(traffic={"tfserving": 90, "blue": 10}, routing={"type": "ingress"})
    r = render(ep, [tf, *ready("blue")])
    assert r.scoring_uri == f"http://ingress/endpoints/ml/ep1{predict}"
    assert r.swagger_uri == "http://ingress/endpoints/ml/ep1/swagger.json"
    # The runtime deployment takes the majority: its /score is what clients call by default.
    r = render(endpoint(traffic={"tfserving": 10, "blue": 90}, routing=GW), [tf, *ready("blue")])
    assert r.scoring_uri == "http://ep1.ml.example.com/score"
    # Nothing available yet: the deployment with the most desired traffic names the path.
    waiting = DeploymentState("tfserving", ready=False, available=0, scoring_path=predict)
    r = render(endpoint(traffic={"tfserving": 100}, routing=GW), [waiting])
    assert r.scoring_uri == f"http://ep1.ml.example.com{predict}"
