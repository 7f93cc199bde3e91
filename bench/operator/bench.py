"""Operator benchmark on the local control plane: latency, scale, API writes, RSS, each next to a floor.

    .venv/bin/python bench/operator/bench.py [--small 20] [--large 1000] [--out bench/operator/results]

The floor applies the same child objects directly with a client (no operator), rendered by our
pure renderers. Both sides route through the same watch-driven stand-in Gateway controller
(``gateway.py``): "Ready" is, for both, "both Deployments have a ready pod and the HTTPRoute is
Accepted". Writes come from the control plane's audit log (``audit.py``), by verb, resource and
client. Prints a table and writes a JSON result file with the load average. Not a test: nothing
here asserts.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit  # noqa: E402
import report  # noqa: E402
from gateway import WatchingGateway  # noqa: E402
from tests.integration.conftest import OperatorProcess  # noqa: E402
from tests.integration.fakegateway import gateway  # noqa: E402

from mlendpoints.api.v1alpha1 import OnlineDeployment, OnlineEndpoint  # noqa: E402
from mlendpoints.clients import resources  # noqa: E402
from mlendpoints.clients.kube import Kube  # noqa: E402
from mlendpoints.render import online  # noqa: E402
from mlendpoints.render.settings import RenderSettings  # noqa: E402
from mlendpoints_dev import LocalCluster  # noqa: E402
from mlendpoints_dev.controlplane import AUDIT_WRITE_VERBS, node_manifests  # noqa: E402
from mlendpoints_dev.install import install_crds, install_gateway_api  # noqa: E402

API = "mlendpoints.io/v1alpha1"
USER = "mlendpoints-bench"
#: the operator's own objects per endpoint: one OnlineEndpoint, two OnlineDeployments
OBJECTS_PER_ENDPOINT = 3


def manifests(ns: str, ep: str = "ep0") -> list[dict[str, Any]]:
    """ConfigMap with the scoring code, an OnlineEndpoint (90/10 via Gateway ``gw``), two deployments."""
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


# -- readiness probes of the benchmark client ---------------------------------------------------
def children_exist(kube: Kube, ns: str, ep: str) -> bool:
    names = [
        (resources.DEPLOYMENT, f"{ep}-{ep}-a"),
        (resources.DEPLOYMENT, f"{ep}-{ep}-b"),
        (resources.HTTPROUTE, ep),
        (resources.SERVICE, ep),
    ]
    return all(kube.get(k, ns, n) is not None for k, n in names)


def is_ready(body: dict[str, Any]) -> bool:
    """Ready=True at the current generation (an OnlineEndpoint)."""
    st = body.get("status") or {}
    ok = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])
    return ok and st.get("observedGeneration") == body.get("metadata", {}).get("generation")


def endpoint_ready(kube: Kube, ns: str, ep: str = "ep0") -> bool:
    return is_ready(kube.get(resources.ONLINE_ENDPOINT, ns, ep) or {})


def route_accepted(route: dict[str, Any] | None) -> bool:
    """Every parent of the HTTPRoute has Accepted=True for its current generation."""
    if route is None:
        return False
    gen = route["metadata"].get("generation")
    parents = (route.get("status") or {}).get("parents") or []
    return bool(parents) and all(
        any(
            c["type"] == "Accepted" and c["status"] == "True" and c.get("observedGeneration") == gen
            for c in p.get("conditions") or []
        )
        for p in parents
    )


def deployment_ready(d: dict[str, Any] | None) -> bool:
    return d is not None and (d.get("status") or {}).get("readyReplicas", 0) >= (
        d["spec"].get("replicas") or 1
    )


def floor_ready(kube: Kube, ns: str, ep: str = "ep0") -> bool:
    """Both Deployments have ready pods and the HTTPRoute is Accepted: what the operator's Ready means."""
    deps = [kube.get(resources.DEPLOYMENT, ns, f"{ep}-{ep}-{s}") for s in ("a", "b")]
    return all(deployment_ready(d) for d in deps) and route_accepted(kube.get(resources.HTTPROUTE, ns, ep))


def wait(fn: Any, timeout: float = 120, interval: float = 0.02) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if fn():
            return time.perf_counter() - start
        time.sleep(interval)
    raise TimeoutError("benchmark step timed out")


def namespace(cluster: LocalCluster, kube: Kube, name: str) -> None:
    """A namespace with its ServiceAccount and the Gateway ``gw`` of the stand-in controller."""
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    cluster.wait_for_default_serviceaccount(name)
    kube.apply(gateway(name))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def operator_writes(cluster: LocalCluster, start: audit.Mark) -> list[dict[str, Any]]:
    assert cluster.audit_log is not None
    return [
        e
        for e in audit.writes(cluster.audit_log, start, AUDIT_WRITE_VERBS)
        if audit.actor(e, USER) == "operator"
    ]


# -- phases -------------------------------------------------------------------------------------
def start_cluster(state: Path) -> LocalCluster:
    """The local control plane, with four big kwok nodes (2,000 pods fit) and the CRDs."""
    cluster = LocalCluster("bench-operator", state_dir=state, die_with_parent=True).start()
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
    return cluster


def floor_single(cluster: LocalCluster, kube: Kube, runs: int) -> tuple[list[float], list[float]]:
    """``runs`` x (children applied directly; then Ready as :func:`floor_ready`), in fresh namespaces."""
    created, ready = [], []
    for i in range(runs):
        ns = f"floor-{i}"
        namespace(cluster, kube, ns)
        objs = floor_objects(ns)
        t0 = time.perf_counter()
        for o in objs:
            kube.apply(o)
        created.append(time.perf_counter() - t0)
        ready.append(created[-1] + wait(lambda ns=ns: floor_ready(kube, ns)))
    return created, ready


def operator_single(cluster: LocalCluster, kube: Kube, runs: int) -> tuple[list[float], list[float]]:
    """``runs`` x (the resources applied; apply -> children exist; apply -> endpoint Ready)."""
    children, ready = [], []
    for i in range(runs):
        ns = f"op-{i}"
        namespace(cluster, kube, ns)
        t0 = time.perf_counter()
        for o in manifests(ns):
            kube.apply(o)
        children.append(time.perf_counter() - t0 + wait(lambda ns=ns: children_exist(kube, ns, "ep0")))
        ready.append(time.perf_counter() - t0 + wait(lambda ns=ns: endpoint_ready(kube, ns)))
    return children, ready


def idle(cluster: LocalCluster, seconds: float) -> tuple[float, audit.Mark]:
    """API requests per second (all clients) over ``seconds``; and the audit mark at its start."""
    assert cluster.audit_log is not None
    start = audit.mark(cluster.audit_log)
    base = apiserver_requests(cluster)
    time.sleep(seconds)
    return (apiserver_requests(cluster) - base) / seconds, start


def reconciles(op: OperatorProcess) -> dict[str, float]:
    """Reconciles the operator has run so far, by kind (its ``mlendpoints_reconcile_total``)."""
    out: dict[str, float] = {}
    for line in op.metrics().splitlines():
        if line.startswith("mlendpoints_reconcile_total{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            out[kind] = out.get(kind, 0) + float(line.rsplit(" ", 1)[1])
    return out


def operator_scale(cluster: LocalCluster, kube: Kube, op: OperatorProcess, n: int) -> dict[str, Any]:
    """``n`` endpoints x 2 deployments applied at once; until all are Ready; peak RSS; writes."""
    assert op.proc is not None
    assert cluster.audit_log is not None
    ns = "scale"
    namespace(cluster, kube, ns)
    start = audit.mark(cluster.audit_log)
    objs = [o for i in range(n) for o in manifests(ns, f"ep{i:04d}")]
    t0, cpu0, runs0 = time.perf_counter(), cpu_s(op.proc.pid), reconciles(op)
    bulk_apply(kube, objs)
    peak = rss_mib(op.proc.pid)

    def all_ready() -> bool:
        nonlocal peak
        peak = max(peak, rss_mib(op.proc.pid))  # type: ignore[union-attr]
        return sum(1 for b in kube.list(resources.ONLINE_ENDPOINT, ns) if is_ready(b)) == n

    wait(all_ready, timeout=3600, interval=2)
    seconds, cpu = time.perf_counter() - t0, cpu_s(op.proc.pid) - cpu0
    runs = {k: v - runs0.get(k, 0) for k, v in reconciles(op).items()}
    events = audit.writes(cluster.audit_log, start, AUDIT_WRITE_VERBS)
    return {
        "all_ready_s": seconds,
        "operator_cpu_s": cpu,
        "reconciles": runs,
        "peak_rss_mib": peak,
        "breakdown": audit.breakdown(events, USER),
    }


def floor_scale(cluster: LocalCluster, kube: Kube, n: int) -> float:
    """The same children for ``n`` endpoints applied directly, until every one is :func:`floor_ready`."""
    ns = "scale-floor"
    namespace(cluster, kube, ns)
    objs = [o for i in range(n) for o in floor_objects(ns, f"ep{i:04d}")]
    t0 = time.perf_counter()
    bulk_apply(kube, objs)

    def all_ready() -> bool:
        deps = kube.list(resources.DEPLOYMENT, ns)
        routes = kube.list(resources.HTTPROUTE, ns)
        return sum(deployment_ready(d) for d in deps) == 2 * n and sum(map(route_accepted, routes)) == n

    wait(all_ready, timeout=3600, interval=2)
    return time.perf_counter() - t0


def settled(op: OperatorProcess, reconciles: float, quiet: float = 5) -> float:
    """Seconds until the operator has run ``reconciles`` reconciles and its queue stayed empty ``quiet`` s."""
    t0 = time.perf_counter()

    def sample() -> tuple[float, float]:
        total = depth = 0.0
        for line in op.metrics().splitlines():
            if line.startswith("mlendpoints_reconcile_total{"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith("mlendpoints_reconcile_queue_depth "):
                depth = float(line.rsplit(" ", 1)[1])
        return total, depth

    wait(lambda: sample()[0] >= reconciles, timeout=1800, interval=1)
    empty_since = time.perf_counter()
    while time.perf_counter() - empty_since < quiet:
        if sample()[1] > 0:
            empty_since = time.perf_counter()
        time.sleep(0.5)
    return time.perf_counter() - t0


def restart(cluster: LocalCluster, op: OperatorProcess, objects: int) -> dict[str, Any]:
    """Restart the operator over ``objects`` resources; its writes until it has settled (goal: 0)."""
    assert cluster.audit_log is not None
    start = audit.mark(cluster.audit_log)
    op.restart()
    assert op.proc is not None
    seconds = settled(op, objects)
    rss = rss_mib(op.proc.pid)
    return {"settle_s": seconds, "writes": len(operator_writes(cluster, start)), "rss_mib": rss}


def _step(began: float, what: str) -> None:
    """One progress line (the run takes minutes to most of an hour)."""
    print(f"[bench +{time.perf_counter() - began:6.0f}s] {what}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20, help="single-endpoint runs for p50/p95")
    parser.add_argument(
        "--large", type=int, default=1000, help="endpoints (x2 deployments) in the scale run; 0 skips"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/operator/results")
    parser.add_argument("--idle-seconds", type=float, default=30)
    args = parser.parse_args()

    began = time.perf_counter()
    state = Path(tempfile.mkdtemp(prefix="mle-bench-"))
    cluster = start_cluster(state)
    kube = Kube(cluster.api_client())
    gateways = WatchingGateway(cluster, kube).start()
    floor_children = audit.kinds(floor_objects("x")[1:])
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        },
        "floor_children_per_endpoint": floor_children,
    }
    op = OperatorProcess(
        kubeconfig=cluster.make_kubeconfig(USER), log_path=state / "operator.log", user=USER, log_level="INFO"
    )
    try:
        _step(began, f"floor: {args.small} endpoints one at a time")
        f_children, f_ready = floor_single(cluster, kube, args.small)
        _step(began, f"idle without the operator ({args.idle_seconds:g} s)")
        idle_without, _ = idle(cluster, args.idle_seconds)
        _step(began, f"operator: {args.small} endpoints one at a time")
        op.start()
        assert op.proc is not None
        rss_start = rss_mib(op.proc.pid)
        o_children, o_ready = operator_single(cluster, kube, args.small)
        settled(op, 0)
        idle_with, idle_mark = idle(cluster, args.idle_seconds)
        result["single"] = report.single(args.small, f_children, f_ready, o_children, o_ready)
        result["idle"] = {
            "api_requests_per_s_without_operator": idle_without,
            "api_requests_per_s_with_operator": idle_with,
            "operator_writes": len(operator_writes(cluster, idle_mark)),
            "watched_endpoints": args.small,
        }
        result["operator_rss_mib"] = {"start": rss_start, "after_single": rss_mib(op.proc.pid)}
        if args.large:
            _step(began, f"operator: {args.large} endpoints at once")
            scale = operator_scale(cluster, kube, op, args.large)
            _step(began, "operator restart over everything")
            scale["restart"] = restart(cluster, op, OBJECTS_PER_ENDPOINT * (args.large + args.small))
            op.stop()
            _step(began, f"floor: {args.large} endpoints at once")
            scale["floor_all_ready_s"] = floor_scale(cluster, kube, args.large)
            totals = audit.operator_totals(scale["breakdown"])
            scale |= {"endpoints": args.large, "deployments": 2 * args.large, "operator_totals": totals}
            result["scale"] = scale
    finally:
        op.stop()
        gateways.stop()
        result["machine"]["loadavg_end"] = os.getloadavg()
        result["machine"]["wall_s"] = time.perf_counter() - began
        result["gateway_errors"] = gateways.errors[:10]
        cluster.stop(delete=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"operator-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(report.lines(result, objects_per_endpoint=OBJECTS_PER_ENDPOINT)))
    print(f"result: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
