"""Ready waits until the Gateway's data plane routes to each serving deployment (gatewayprobe.py).

The real endpoint reconciler runs against the in-memory API (fakekube.py); the Gateway's data
plane is a real HTTP server on loopback whose address the Gateway publishes, answering as Traefik
does before it has loaded a backend (503, no deployment header) and as the runtime does after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mlendpoints.backends.kubernetes import deployment, endpoint, gatewayprobe, instancetype
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from mlendpoints.status import conditions
from tests.unit.controller.fakekube import FakeKube
from tests.unit.controller.test_status_writes import NS, _objects

HEADER = "azureml-model-deployment"


class DataPlane:
    """A gateway stand-in: ``mode`` is ``unloaded`` (503 without the header, Traefik's
    ``no available server``), ``served`` (the pinned deployment answers, with its header) or
    ``elsewhere`` (an older configuration: ``blue`` answers whatever the pin)."""

    def __init__(self) -> None:
        self.mode = "unloaded"
        self.requests: list[tuple[str, str | None]] = []
        self.agents: set[str] = set()
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        pin = request.headers.get(HEADER)
        self.requests.append((request.path, pin))
        self.agents.add(request.headers.get("User-Agent", "").split("/")[0])
        if self.mode == "unloaded":
            return web.Response(status=503, text="no available server")
        answered = pin if self.mode == "served" else "blue"
        return web.Response(text="Healthy", headers={HEADER: answered or ""})

    async def __aenter__(self) -> DataPlane:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _gateway(port: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": NS, "generation": 1},
        "spec": {
            "gatewayClassName": "any",
            "listeners": [{"name": "http", "port": port, "protocol": "HTTP"}],
        },
        "status": {
            "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
            "conditions": [
                {"type": "Programmed", "status": "True", "observedGeneration": 1, "reason": "Programmed"}
            ],
        },
    }


def _objects_routed() -> list[dict[str, Any]]:
    out = _objects()
    ep = next(o for o in out if o["kind"] == "OnlineEndpoint")
    ep["spec"]["routing"] = {"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]}
    return out


def _serving(kube: FakeKube, manager: Manager) -> None:
    """What the cluster does next: the Deployment has an available pod, the OnlineDeployment is
    Ready and the Gateway accepts the route (the API server's and the Gateway's parts, by hand)."""
    dep = kube.edit("Deployment", NS, "ep1-blue")
    dep["status"] = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    od = kube.edit("OnlineDeployment", NS, "blue")
    ready = {"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "now"}
    od["status"] = {"observedGeneration": od["metadata"]["generation"], "conditions": [ready]}
    route = kube.edit("HTTPRoute", NS, "ep1")
    accepted = [
        {"type": t, "status": "True", "reason": t, "observedGeneration": route["metadata"]["generation"]}
        for t in ("Accepted", "ResolvedRefs")
    ]
    route["status"] = {
        "parents": [
            {
                "parentRef": {"name": "gw"},
                "controllerName": "example.com/gateway",
                "conditions": accepted,
            }
        ]
    }
    for kind, obj in (("Deployment", dep), ("OnlineDeployment", od), ("HTTPRoute", route)):
        manager.observe(kind, "MODIFIED", obj)


def _ready(kube: FakeKube) -> dict[str, Any]:
    ep = kube.find("OnlineEndpoint", NS, "ep1")
    assert ep is not None
    found = conditions.get_condition(ep["status"]["conditions"], conditions.READY)
    assert found is not None
    return dict(found)


def _run(scenario: Callable[[FakeKube, Manager, DataPlane], Awaitable[None]]) -> None:
    async def main() -> None:
        async with DataPlane() as plane:
            kube = FakeKube()
            for obj in [*_objects_routed(), _gateway(plane.port)]:
                kube.put(obj)
            manager = Manager(kube, OperatorSettings(gateway_probe=True))  # type: ignore[arg-type]
            manager.ctx.gateway_api = True
            manager.ctx.progress_interval = 0  # every status change is written, for the asserts
            await manager._prime()
            await instancetype.reconcile(manager.ctx, "small")
            await endpoint.reconcile(manager.ctx, NS, "ep1")
            await deployment.reconcile(manager.ctx, NS, "blue")
            await endpoint.reconcile(manager.ctx, NS, "ep1")
            _serving(kube, manager)
            await scenario(kube, manager, plane)

    asyncio.run(main())


def test_the_endpoint_is_ready_only_once_the_gateway_routes_the_pin_to_the_deployment() -> None:
    async def scenario(kube: FakeKube, manager: Manager, plane: DataPlane) -> None:
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        waiting = _ready(kube)
        assert (waiting["status"], waiting["reason"]) == ("Unknown", "GatewayNotServing")
        assert "blue: 503 without the azureml-model-deployment header" in waiting["message"]
        assert f"GET http://127.0.0.1:{plane.port}/endpoints/{NS}/ep1/" in waiting["message"]
        assert plane.requests == [(f"/endpoints/{NS}/ep1/", "blue")]
        assert plane.agents == {"mlendpoints-gateway-probe"}

        plane.mode = "served"
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        assert _ready(kube)["status"] == "True"
        asked = len(plane.requests)
        await endpoint.reconcile(manager.ctx, NS, "ep1")  # nothing routed changed: no new probe
        assert len(plane.requests) == asked
        assert _ready(kube)["status"] == "True"

    _run(scenario)


def _target(port: int) -> gatewayprobe.Target:
    return gatewayprobe.Target(url=f"http://127.0.0.1:{port}/endpoints/x/y/", host=None)


def test_an_answer_from_another_deployment_or_no_gateway_at_all_is_not_served() -> None:
    async def scenario(kube: FakeKube, manager: Manager, plane: DataPlane) -> None:
        where = _target(plane.port)
        plane.mode = "elsewhere"
        assert await gatewayprobe.unserved(where, ["blue", "green"]) == {"green": "200 from deployment blue"}
        plane.mode = "unloaded"
        assert await gatewayprobe.unserved(where, ["blue"]) == {
            "blue": "503 without the azureml-model-deployment header"
        }
        plane.mode = "served"
        assert await gatewayprobe.unserved(where, ["blue", "green"]) == {}
        assert (await gatewayprobe.unserved(_target(1), ["blue"]))["blue"].startswith("ClientConnectorError")

    _run(scenario)


def test_failed_probes_back_off_and_a_problem_before_the_probe_makes_the_next_chance_probe_again() -> None:
    async def scenario(kube: FakeKube, manager: Manager, plane: DataPlane) -> None:
        delays: list[float] = []
        manager.ctx.enqueue = lambda key, delay=0.0: delays.append(delay)  # type: ignore[method-assign,misc]
        for _ in range(3):
            await endpoint.reconcile(manager.ctx, NS, "ep1")
        delays[:] = [d for d in delays if d <= gatewayprobe.MAX_RETRY_S]  # not the grace-period timer
        assert delays == [1.0, 2.0, 4.0]  # an unreachable Gateway costs ever less worker time
        plane.mode = "served"
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        assert _ready(kube)["status"] == "True"
        # The Gateway stops being Programmed (its proxy restarts) and comes back, at the same
        # address and route generation: the success is not taken for granted, the next chance probes.
        gw = kube.edit("Gateway", NS, "gw")
        gw["status"]["conditions"][0]["status"] = "False"
        manager.observe("Gateway", "MODIFIED", gw)
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        assert _ready(kube)["reason"] == "GatewayNotProgrammed"
        plane.mode = "unloaded"
        gw = kube.edit("Gateway", NS, "gw")
        gw["status"]["conditions"][0]["status"] = "True"
        manager.observe("Gateway", "MODIFIED", gw)
        await endpoint.reconcile(manager.ctx, NS, "ep1")
        assert _ready(kube)["reason"] == "GatewayNotServing"
        assert [d for d in delays if d <= gatewayprobe.MAX_RETRY_S][
            -1
        ] == 1.0  # a new series of failures starts from the first delay

    _run(scenario)


def _gw(*listeners: dict[str, Any], address: str = "203.0.113.7") -> dict[str, Any]:
    return {"spec": {"listeners": list(listeners)}, "status": {"addresses": [{"value": address}]}}


def _ep(**routing: Any) -> Any:
    from mlendpoints.api.v1alpha1 import OnlineEndpoint

    body = {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "ep1", "namespace": NS},
        "spec": {"routing": {"type": "gatewayAPI", "parentRefs": [{"name": "gw"}], **routing}},
    }
    return OnlineEndpoint.model_validate(body)


HTTP = {"name": "http", "port": 80, "protocol": "HTTP"}
HTTPS = {"name": "https", "port": 443, "protocol": "HTTPS"}


def test_the_listener_decides_scheme_and_port_and_the_host_is_the_one_clients_send() -> None:
    def url_host(gw: dict[str, Any], ref: dict[str, Any], ep: Any) -> tuple[str, str | None]:
        found = gatewayprobe.target(gw, ref, ep)
        assert found is not None
        return found.url, found.host

    path = f"/endpoints/{NS}/ep1/"
    assert url_host(_gw(HTTP, HTTPS), {}, _ep()) == (f"http://203.0.113.7:80{path}", None)
    assert url_host(_gw(HTTP, HTTPS), {}, _ep(tlsSecretName="tls")) == (
        f"https://203.0.113.7:443{path}",
        None,
    )
    assert url_host(_gw(HTTPS), {}, _ep()) == (f"https://203.0.113.7:443{path}", None)
    assert url_host(_gw(HTTP, HTTPS), {"sectionName": "https"}, _ep()) == (
        f"https://203.0.113.7:443{path}",
        None,
    )
    assert gatewayprobe.target(_gw(HTTP), {"sectionName": "nope"}, _ep()) is None
    assert gatewayprobe.target(_gw(HTTP, address=""), {}, _ep()) is None
    # a wildcard host stands for <endpoint>.<domain>, as in the scoring URI
    assert url_host(_gw(HTTP), {}, _ep(host="*.models.example.com")) == (
        "http://203.0.113.7:80/",
        "ep1.models.example.com",
    )
    named = HTTP | {"hostname": "models.example.com"}
    assert url_host(_gw(named), {}, _ep()) == (f"http://203.0.113.7:80{path}", "models.example.com")
    assert url_host(_gw(HTTP, address="2001:db8::1"), {}, _ep())[0] == f"http://[2001:db8::1]:80{path}"
