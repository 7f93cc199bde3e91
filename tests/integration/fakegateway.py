"""A stand-in Gateway API controller for tests: writes the status a real one would.

The test control plane has the Gateway API CRDs but no gateway data plane, so nothing would ever
mark a Gateway ``Programmed`` or an HTTPRoute ``Accepted``, and no endpoint could be Ready. This
controller plays one for GatewayClass ``fake`` only (so it never competes with a real controller):

* a Gateway of class ``fake`` gets ``Accepted``/``Programmed`` True for its generation and the
  address ``127.0.0.1``, unless it carries the annotation ``fake-gateway.mlendpoints.io/programmed:
  "False"`` (then ``Programmed=False``, reason ``AddressNotAssigned``);
* an HTTPRoute gets one ``status.parents`` entry per parentRef naming an existing ``fake`` Gateway in
  a watched namespace: ``Accepted=True`` and ``ResolvedRefs=True`` when a listener admits the route's
  namespace (``allowedRoutes.namespaces.from``: ``Same``, the default, or ``All``), else
  ``Accepted=False``, reason ``NotAllowedByListeners``, as the Gateway API specifies.

It polls (``kubectl get``) once per ``interval`` in a thread and writes only what differs.
"""

from __future__ import annotations

import json
import threading
from typing import Any

CLASS = "fake"
CONTROLLER = "mlendpoints.io/fake-gateway-controller"
PROGRAMMED_ANNOTATION = "fake-gateway.mlendpoints.io/programmed"
EPOCH = "2026-01-01T00:00:00Z"


def gateway_class() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": CLASS},
        "spec": {"controllerName": CONTROLLER},
    }


def gateway(ns: str, name: str = "gw", *, allow: str = "Same", programmed: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if not programmed:
        meta["annotations"] = {PROGRAMMED_ANNOTATION: "False"}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": meta,
        "spec": {
            "gatewayClassName": CLASS,
            "listeners": [
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "port": 80,
                    "allowedRoutes": {"namespaces": {"from": allow}},
                }
            ],
        },
    }


def _cond(type_: str, ok: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": EPOCH,
    }


def _essence(conds: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((c["type"], c["status"], c["reason"], c.get("observedGeneration")) for c in conds)


class FakeGatewayController:
    def __init__(self, cluster: Any, namespaces: list[str], interval: float = 0.5) -> None:
        self.cluster = cluster
        self.namespaces = list(namespaces)
        self.interval = interval
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-gateway", daemon=True)

    def start(self) -> FakeGatewayController:
        self.cluster.apply(gateway_class())
        self._thread.start()
        return self

    def watch(self, namespace: str) -> None:
        self.namespaces.append(namespace)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception as exc:  # keep playing; the test sees the errors if it fails
                self.errors.append(repr(exc))

    def _list(self, what: str) -> list[dict[str, Any]]:
        out = []
        for ns in list(self.namespaces):
            res = self.cluster.kubectl("get", what, "-n", ns, "-o", "json", check=False)
            if res.returncode == 0:
                out += json.loads(res.stdout)["items"]
        return out

    def _patch_status(self, kind: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.cluster.kubectl(
            "patch", kind, meta["name"], "-n", meta["namespace"], "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}), check=False,
        )  # fmt: skip

    def sync(self) -> None:
        gateways = {
            (g["metadata"]["namespace"], g["metadata"]["name"]): g
            for g in self._list("gateways")
            if g["spec"].get("gatewayClassName") == CLASS
        }
        for gw in gateways.values():
            self._sync_gateway(gw)
        for route in self._list("httproutes"):
            self._sync_route(route, gateways)

    def _sync_gateway(self, gw: dict[str, Any]) -> None:
        gen = gw["metadata"]["generation"]
        ok = (gw["metadata"].get("annotations") or {}).get(PROGRAMMED_ANNOTATION) != "False"
        conds = [
            _cond("Accepted", True, "Accepted", "accepted by the fake controller", gen),
            _cond(
                "Programmed",
                ok,
                "Programmed" if ok else "AddressNotAssigned",
                "programmed" if ok else "no address could be assigned to the Gateway",
                gen,
            ),
        ]
        current = (gw.get("status") or {}).get("conditions") or []
        if _essence(current) != _essence(conds):
            status: dict[str, Any] = {"conditions": conds}
            status["addresses"] = [{"type": "IPAddress", "value": "127.0.0.1"}] if ok else []
            self._patch_status("gateway", gw, status)

    def _sync_route(self, route: dict[str, Any], gateways: dict[tuple[str, str], dict[str, Any]]) -> None:
        ns, gen = route["metadata"]["namespace"], route["metadata"]["generation"]
        parents = []
        for ref in route["spec"].get("parentRefs") or []:
            gw = gateways.get((ref.get("namespace") or ns, ref["name"]))
            if gw is None:
                continue  # not ours (or missing): a real controller writes nothing either
            allowed = any(
                ((lst.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same") == "All"
                or gw["metadata"]["namespace"] == ns
                for lst in gw["spec"]["listeners"]
            )
            conds = [
                _cond(
                    "Accepted",
                    allowed,
                    "Accepted" if allowed else "NotAllowedByListeners",
                    "accepted"
                    if allowed
                    else f"no listener of the Gateway allows routes from namespace {ns}",
                    gen,
                ),
                _cond("ResolvedRefs", True, "ResolvedRefs", "resolved", gen),
            ]
            parents.append({"parentRef": ref, "controllerName": CONTROLLER, "conditions": conds})
        current = (route.get("status") or {}).get("parents") or []
        if [(p["parentRef"], _essence(p["conditions"])) for p in current] != [
            (p["parentRef"], _essence(p["conditions"])) for p in parents
        ]:
            self._patch_status("httproute", route, {"parents": parents})
