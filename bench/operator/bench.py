"""Operator benchmark on the local control plane: apply-to-children and apply-to-Ready latency,
scale to N endpoints, operator RSS, idle API load -- each next to a floor that creates the same
child objects directly with a client (no operator).

    .venv/bin/python bench/operator/bench.py [--small 20] [--large 1000] [--out bench/operator/results]

Prints a table and writes a JSON result file. Numbers depend on the machine and on anything else
running; the result file records the load average. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import OperatorProcess  # noqa: E402
from tests.integration.fakegateway import FakeGatewayController, gateway  # noqa: E402

from mlendpoints.api.v1alpha1 import OnlineDeployment, OnlineEndpoint  # noqa: E402
from mlendpoints.clients import resources  # noqa: E402
from mlendpoints.clients.kube import Kube  # noqa: E402
from mlendpoints.render import online  # noqa: E402
from mlendpoints.render.settings import RenderSettings  # noqa: E402
from mlendpoints_dev import LocalCluster  # noqa: E402
from mlendpoints_dev.cluster import node_manifests  # noqa: E402
from mlendpoints_dev.install import install_crds, install_gateway_api  # noqa: E402

API = "mlendpoints.io/v1alpha1"


def manifests(ns: str, ep: str = "ep0") -> list[dict[str, Any]]:
    code = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{ep}-code", "namespace": ns},
        "data": {"score.py": "def init():\n    pass\n\ndef run(raw):\n    return raw\n"},
    }
    endpoint = {
        "apiVersion": API,
        "kind": "OnlineEndpoint",
        "metadata": {"name": ep, "namespace": ns},
        "spec": {
            "traffic": {f"{ep}-a": 90, f"{ep}-b": 10},
            "routing": {"type": "gatewayAPI", "parentRefs": [{"name": "gw"}]},
        },
    }
    deps = [
        {
            "apiVersion": API,
            "kind": "OnlineDeployment",
            "metadata": {"name": f"{ep}-{s}", "namespace": ns},
            "spec": {
                "endpointName": ep,
                "model": {"path": "https://models.example.com/m/1/"},
                "codeConfiguration": {"configMap": {"name": f"{ep}-code"}, "scoringScript": "score.py"},
            },
        }
        for s in ("a", "b")
    ]
    return [code, endpoint, *deps]


def children_exist(kube: Kube, ns: str, ep: str) -> bool:
    names = [
        (resources.DEPLOYMENT, f"{ep}-{ep}-a"),
        (resources.DEPLOYMENT, f"{ep}-{ep}-b"),
        (resources.HTTPROUTE, ep),
        (resources.SERVICE, ep),
    ]
    return all(kube.get(k, ns, n) is not None for k, n in names)


def endpoint_ready(kube: Kube, ns: str, ep: str) -> bool:
    body = kube.get(resources.ONLINE_ENDPOINT, ns, ep) or {}
    st = body.get("status") or {}
    ok = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])
    return ok and st.get("observedGeneration") == body.get("metadata", {}).get("generation")


def deployments_ready(kube: Kube, ns: str, names: list[str]) -> bool:
    for n in names:
        d = kube.get(resources.DEPLOYMENT, ns, n)
        if d is None or (d.get("status") or {}).get("readyReplicas", 0) < (d["spec"].get("replicas") or 1):
            return False
    return True


def wait(fn: Any, timeout: float = 120, interval: float = 0.02) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if fn():
            return time.perf_counter() - start
        time.sleep(interval)
    raise TimeoutError("benchmark step timed out")


def namespace(kube: Kube, name: str) -> None:
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def floor_objects(ns: str, ep: str = "ep0") -> list[dict[str, Any]]:
    """The same children the operator makes, rendered by our pure renderers, applied by hand."""
    docs = manifests(ns, ep)
    settings = RenderSettings()
    uid = {"uid": f"uid-{ns}-{ep}"}
    endpoint = OnlineEndpoint.model_validate({**docs[1], "metadata": {**docs[1]["metadata"], **uid}})
    objs: list[dict[str, Any]] = []
    for d in docs[2:]:
        dep = OnlineDeployment.model_validate(
            {**d, "metadata": {**d["metadata"], "uid": f"uid-{d['metadata']['name']}"}}
        )
        objs += online.deployment_children(
            dep, endpoint=endpoint, compute=None, code_hash="x", settings=settings
        )
    states = [online.DeploymentState(name=d["metadata"]["name"], ready=True) for d in docs[2:]]
    objs += online.endpoint_children(
        endpoint, deployments=states, keys=("k1", "k2"), gateway_api_available=True, settings=settings
    ).objects
    for o in objs:  # no owner objects exist in the floor run
        o["metadata"].pop("ownerReferences", None)
    return [docs[0], *objs]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def apiserver_requests(cluster: LocalCluster) -> float:
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("apiserver_request_total{")
    )


def bulk_apply(kube: Kube, objs: list[dict[str, Any]], workers: int = 16) -> None:
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(kube.apply, objs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20, help="single-endpoint runs for p50/p95")
    parser.add_argument(
        "--large", type=int, default=1000, help="endpoints (x2 deployments) in the scale run; 0 skips"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/operator/results")
    parser.add_argument("--idle-seconds", type=float, default=30)
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="mle-bench-"))
    cluster = LocalCluster("bench-operator", state_dir=state, die_with_parent=True).start()
    gateways: FakeGatewayController | None = None
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        }
    }
    try:
        # The default fake nodes hold 110 pods each (like real kubelets); the scale run needs
        # thousands, so add big kwok nodes (untainted, no GPU).
        big = []
        for i in range(4):
            node = node_manifests()[0]
            name = f"kwok-bench-{i}"
            node["metadata"]["name"] = name
            node["metadata"]["labels"]["kubernetes.io/hostname"] = name
            cap = {"cpu": "512", "memory": "4Ti", "pods": "1000", "ephemeral-storage": "1Ti"}
            node["status"] = {"allocatable": cap, "capacity": cap}
            big.append(node)
        cluster.apply(big)
        cluster.kubectl("wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=60s")
        install_crds(cluster, ROOT / "crds")
        install_gateway_api(cluster)
        kube = Kube(cluster.api_client())
        # The endpoints route through Gateway "gw" and are Ready only once it is Programmed and
        # has accepted their HTTPRoute: the tests' stand-in controller plays the gateway (it polls
        # every 0.5 s, which the operator's apply -> Ready times include).
        gateways = FakeGatewayController(cluster, []).start()

        # Floor first (no operator running): children applied directly, then Ready (kwok).
        floor_create, floor_ready = [], []
        for i in range(args.small):
            ns = f"floor-{i}"
            namespace(kube, ns)
            cluster.wait_for_default_serviceaccount(ns)
            objs = floor_objects(ns)
            t0 = time.perf_counter()
            for o in objs:
                kube.apply(o)
            floor_create.append(time.perf_counter() - t0)
            floor_ready.append(
                floor_create[-1] + wait(lambda ns=ns: deployments_ready(kube, ns, ["ep0-ep0-a", "ep0-ep0-b"]))
            )

        # Idle API load with no operator, then with it.
        base0 = apiserver_requests(cluster)
        time.sleep(args.idle_seconds)
        idle_without = (apiserver_requests(cluster) - base0) / args.idle_seconds

        op = OperatorProcess(
            kubeconfig=cluster.make_kubeconfig("mlendpoints-bench"),
            log_path=state / "operator.log",
            user="mlendpoints-bench",
            log_level="INFO",
        )
        op.start()
        assert op.proc is not None
        rss_start = rss_mib(op.proc.pid)
        op_children, op_ready = [], []
        for i in range(args.small):
            ns = f"op-{i}"
            namespace(kube, ns)
            cluster.wait_for_default_serviceaccount(ns)
            kube.apply(gateway(ns))
            gateways.watch(ns)
            t0 = time.perf_counter()
            for o in manifests(ns):
                kube.apply(o)
            op_children.append(time.perf_counter() - t0 + wait(lambda ns=ns: children_exist(kube, ns, "ep0")))
            op_ready.append(time.perf_counter() - t0 + wait(lambda ns=ns: endpoint_ready(kube, ns, "ep0")))
        time.sleep(3)
        base1 = apiserver_requests(cluster)
        time.sleep(args.idle_seconds)
        idle_with = (apiserver_requests(cluster) - base1) / args.idle_seconds
        result["single"] = {
            "runs": args.small,
            "floor_children_p50": statistics.median(floor_create),
            "floor_children_p95": pct(floor_create, 0.95),
            "floor_ready_p50": statistics.median(floor_ready),
            "floor_ready_p95": pct(floor_ready, 0.95),
            "operator_children_p50": statistics.median(op_children),
            "operator_children_p95": pct(op_children, 0.95),
            "operator_ready_p50": statistics.median(op_ready),
            "operator_ready_p95": pct(op_ready, 0.95),
        }
        result["idle_api_requests_per_s"] = {
            "without_operator": idle_without,
            "with_operator": idle_with,
            "watched_endpoints": args.small,
        }
        result["operator_rss_mib"] = {"start": rss_start, "after_single": rss_mib(op.proc.pid)}

        if args.large:
            n = args.large
            ns = "scale"
            namespace(kube, ns)
            cluster.wait_for_default_serviceaccount(ns)
            kube.apply(gateway(ns))
            gateways.watch(ns)
            objs = [o for i in range(n) for o in manifests(ns, f"ep{i:04d}")]
            t0 = time.perf_counter()
            bulk_apply(kube, objs)
            applied = time.perf_counter() - t0
            peak = rss_mib(op.proc.pid)

            def all_ready() -> bool:
                nonlocal peak
                peak = max(peak, rss_mib(op.proc.pid))  # type: ignore[union-attr]
                items = kube.list(resources.ONLINE_ENDPOINT, ns)
                done = sum(
                    1
                    for b in items
                    if any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in (b.get("status") or {}).get("conditions") or []
                    )
                )
                return done == n

            ready = applied + wait(all_ready, timeout=3600, interval=2)
            audit = list(cluster.audit_events(0, user="mlendpoints-bench"))
            writes = len(audit)
            by_verb_kind: dict[str, int] = {}
            for e in audit:
                key = f"{e.get('verb')} {(e.get('objectRef') or {}).get('resource')}"
                key += (
                    f"/{e['objectRef']['subresource']}"
                    if (e.get("objectRef") or {}).get("subresource")
                    else ""
                )
                by_verb_kind[key] = by_verb_kind.get(key, 0) + 1
            op.stop()
            # Floor at scale: the same children applied directly, until every Deployment is Ready.
            fns = "scale-floor"
            namespace(kube, fns)
            cluster.wait_for_default_serviceaccount(fns)
            fobjs = [o for i in range(n) for o in floor_objects(fns, f"ep{i:04d}")]
            t0 = time.perf_counter()
            bulk_apply(kube, fobjs)
            f_applied = time.perf_counter() - t0

            def floor_all_ready() -> bool:
                items = kube.list(resources.DEPLOYMENT, fns)
                return sum(1 for d in items if (d.get("status") or {}).get("readyReplicas", 0) >= 1) == 2 * n

            f_ready = f_applied + wait(floor_all_ready, timeout=3600, interval=2)
            result["scale"] = {
                "endpoints": n,
                "deployments": 2 * n,
                "operator_all_ready_s": ready,
                "floor_all_ready_s": f_ready,
                "operator_peak_rss_mib": peak,
                "operator_writes_total": writes,
                "operator_writes_by_verb_and_resource": dict(sorted(by_verb_kind.items())),
            }
        else:
            op.stop()
    finally:
        if gateways is not None:
            gateways.stop()
        result["machine"]["loadavg_end"] = os.getloadavg()
        cluster.stop(delete=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"operator-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    s = result["single"]
    print(f"\n{'metric':<42}{'operator':>12}{'floor':>12}{'ratio':>8}")
    for label, a, b in [
        ("apply -> children created, p50 (s)", s["operator_children_p50"], s["floor_children_p50"]),
        ("apply -> children created, p95 (s)", s["operator_children_p95"], s["floor_children_p95"]),
        ("apply -> Ready, p50 (s)", s["operator_ready_p50"], s["floor_ready_p50"]),
        ("apply -> Ready, p95 (s)", s["operator_ready_p95"], s["floor_ready_p95"]),
    ]:
        print(f"{label:<42}{a:>12.3f}{b:>12.3f}{a / b:>8.2f}")
    if "scale" in result:
        sc = result["scale"]
        print(
            f"{str(sc['endpoints']) + ' endpoints x 2 deployments -> all Ready (s)':<42}{sc['operator_all_ready_s']:>12.1f}"
            f"{sc['floor_all_ready_s']:>12.1f}{sc['operator_all_ready_s'] / sc['floor_all_ready_s']:>8.2f}"
        )
        print(
            f"operator peak RSS at scale: {sc['operator_peak_rss_mib']:.0f} MiB; writes: {sc['operator_writes_total']}"
        )
        for key, count in sc["operator_writes_by_verb_and_resource"].items():
            print(f"  {key:<48}{count:>8}")
    idle = result["idle_api_requests_per_s"]
    print(
        f"idle API requests/s (all clients): without operator {idle['without_operator']:.2f}, with {idle['with_operator']:.2f}"
    )
    print(f"operator RSS: {result['operator_rss_mib']}")
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
