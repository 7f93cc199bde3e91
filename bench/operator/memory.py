"""Operator memory benchmark: peak and settled RSS over N existing endpoints, next to a floor and the goal.

    .venv/bin/python bench/operator/memory.py [--endpoints 1000] [--out bench/operator/results]
        [--baseline DIR]   # DIR: another version's source root, e.g. main's ``operator/``

Issue 16's goal is an operator peak RSS of at most 300 MiB at 1,000 endpoints, and the worst case
is a restart: the operator then lists everything it watches at once. This benchmark builds that
case without waiting for the operator to create 1,000 endpoints one reconcile at a time:

1. The local control plane with four big kwok nodes and the stand-in Gateway controller
   (``bench.py``'s ``start_cluster`` and ``gateway.py``).
2. N endpoints' objects, by bulk server-side applies: the operator's own resources (per endpoint a
   code ConfigMap, one OnlineEndpoint and two OnlineDeployments, ``bench.manifests``), then the
   children the operator would create for them, rendered by the operator's own renderers with the
   resources' real uids (so owner references, the owner-uid and managed-by labels the watches
   select on are the operator's), applied under the operator's field manager: per endpoint two
   Deployments, three Services, two NetworkPolicies, an HTTPRoute and the keys Secret.
   kube-controller-manager and kwok then make the two Pods per endpoint; the run waits for them.
3. First start of the operator over these objects, until every endpoint is Ready and the operator
   has settled (``bench.settled``). The children already match, so its writes should be the
   resources' status (they have none yet) and the Events of those status changes; every write is
   printed by verb and resource.
4. Restart (the measured case, what an upgrade or a rescheduled pod does): peak RSS (``VmHWM``
   of ``/proc/<pid>/status``, the kernel's high-water mark) and RSS once settled (``VmRSS``),
   and the restart's writes (goal: 0). With ``--baseline``, the same restart once more with the
   operator imported from that source root (``PYTHONPATH``), side by side in one run.
5. Floors, in a bare Python process that imports the operator (``mlendpoints.controller.handlers``,
   hence kopf and the kubernetes client): its RSS after the imports; with a Store filled the way
   the operator primes it (paged LISTs of every watched kind with its selector, trimmed and
   interned): the cache the operator cannot do without; and
   with every watched object held besides as whole parsed dicts (what a cache of whole objects
   would hold; no framework state, no transient memory).

Prints each number next to the goal and the floor, and writes ``memory-<time>.json`` to ``--out``.
Not a test: nothing here asserts. At 1,000 endpoints it takes about 15 minutes on 2 shared cores
(10 of them creating the 16,000 objects).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit  # noqa: E402
import bench  # noqa: E402
from gateway import WatchingGateway  # noqa: E402
from report import RSS_GOAL_MIB  # noqa: E402
from tests.integration.conftest import OperatorProcess  # noqa: E402

from mlendpoints.api.v1alpha1 import OnlineDeployment, OnlineEndpoint  # noqa: E402
from mlendpoints.clients import diff, resources  # noqa: E402
from mlendpoints.clients.kube import Kube  # noqa: E402
from mlendpoints.render import codehash, online  # noqa: E402
from mlendpoints.render import meta as render_meta  # noqa: E402
from mlendpoints.render.settings import RenderSettings  # noqa: E402
from mlendpoints.status import dependencies  # noqa: E402
from mlendpoints_dev.kubecluster import AUDIT_WRITE_VERBS  # noqa: E402

NS = "mem"
BEGAN = time.perf_counter()


def say(message: str) -> None:
    """A progress line on stderr, with the minutes since the start."""
    print(f"[memory +{(time.perf_counter() - BEGAN) / 60:5.1f} min] {message}", file=sys.stderr, flush=True)


def status_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of ``/proc/<pid>/status``, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def children(
    endpoint_body: dict[str, Any], dep_bodies: list[dict[str, Any]], code: dict[str, Any], address: str | None
) -> list[dict[str, Any]]:
    """What the operator renders for one endpoint once its deployments are Ready (keys: new ones).

    The same calls as the reconcilers (``deployment._reconcile``, ``endpoint._reconcile``) with
    what they would read: no InstanceType, the code ConfigMap's hash, the Gateway's address.
    """
    settings = RenderSettings()
    endpoint = OnlineEndpoint.model_validate(endpoint_body)
    code_hash = codehash.config_map_hash(code.get("data"), code.get("binaryData"))
    objs: list[dict[str, Any]] = []
    for body in dep_bodies:
        dep = OnlineDeployment.model_validate(body)
        objs += online.deployment_children(
            dep, endpoint=endpoint, compute=None, code_hash=code_hash, settings=settings
        )
    states = [online.DeploymentState(name=d["metadata"]["name"], ready=True, available=1) for d in dep_bodies]
    keys = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))  # as keys.new_key makes them
    objs += online.endpoint_children(
        endpoint,
        deployments=states,
        keys=keys,
        gateway_api_available=True,
        settings=settings,
        public_address=address,
    ).objects
    return objs


def create(cluster: Any, kube: Kube, n: int) -> dict[str, int]:
    """N endpoints' resources, then their children; returns the count of objects applied by kind.

    The resources are applied as ``kubectl apply --server-side`` would (field manager
    ``kubectl``), each OnlineDeployment with the owner reference to its endpoint the operator
    would add; the children under the operator's field manager.
    """
    bench.namespace(cluster, kube, NS)
    user = Kube(kube.api, field_manager="kubectl")
    docs = [bench.manifests(NS, f"ep{i:04d}") for i in range(n)]
    bench.bulk_apply(user, [o for code, ep, *_ in docs for o in (code, ep)])
    endpoints = {e["metadata"]["name"]: e for e in kube.list(resources.ONLINE_ENDPOINT, NS)}
    for _, ep, *deps in docs:
        owner = endpoints[ep["metadata"]["name"]]
        ref = render_meta.controller_reference(
            api_version=owner["apiVersion"],
            kind="OnlineEndpoint",
            name=owner["metadata"]["name"],
            uid=owner["metadata"]["uid"],
        )
        for dep in deps:
            dep["metadata"]["ownerReferences"] = [ref]
    bench.bulk_apply(user, [d for _, _, *deps in docs for d in deps])
    bench.wait(lambda: bool((kube.get(resources.GATEWAY, NS, "gw") or {}).get("status")), timeout=60)
    gw = kube.get(resources.GATEWAY, NS, "gw")
    address = dependencies.gateway_address(gw, section=None, https=False) if gw else None
    deployments = {d["metadata"]["name"]: d for d in kube.list(resources.ONLINE_DEPLOYMENT, NS)}
    objs = []
    for code, ep, *deps in docs:
        objs += children(
            endpoints[ep["metadata"]["name"]],
            [deployments[d["metadata"]["name"]] for d in deps],
            code,
            address,
        )
    bench.bulk_apply(kube, [diff.canonical(o) for o in objs])  # as converge applies them
    return audit.kinds([o for d in docs for o in d] + objs)


def pods_ready(kube: Kube, n: int) -> bool:
    """Every child Deployment has an available pod."""
    deps = kube.list(resources.DEPLOYMENT, NS)
    return sum(1 for d in deps if (d.get("status") or {}).get("availableReplicas")) >= 2 * n


def endpoints_ready(kube: Kube, n: int) -> bool:
    return sum(1 for b in kube.list(resources.ONLINE_ENDPOINT, NS) if bench.is_ready(b)) >= n


class Sampler(threading.Thread):
    """RSS of a process every ``interval`` s (MiB), for the timeline in the result file."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.t0 = pid, interval, time.perf_counter()
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                rss = status_kib(self.pid)["VmRSS"] / 1024
            except (FileNotFoundError, KeyError):
                return
            self.samples.append((round(time.perf_counter() - self.t0, 1), round(rss, 1)))


def phase(cluster: Any, kube: Kube, op: OperatorProcess, n: int) -> dict[str, Any]:
    """Start the operator; until all endpoints are Ready and it has settled: RSS, writes (then stop it)."""
    assert cluster.audit_log is not None
    start = audit.mark(cluster.audit_log)
    t0 = time.perf_counter()
    op.start()
    try:
        assert op.proc is not None
        sampler = Sampler(op.proc.pid)
        sampler.start()
        bench.wait(lambda: endpoints_ready(kube, n), timeout=3600, interval=2)
        settle = bench.settled(op, bench.OBJECTS_PER_ENDPOINT * n)
        mem = status_kib(op.proc.pid)
        sampler.done.set()
    finally:
        op.stop()
    events = [
        e
        for e in audit.writes(cluster.audit_log, start, AUDIT_WRITE_VERBS)
        if audit.actor(e, bench.USER) == "operator"
    ]
    return {
        "ready_and_settled_s": time.perf_counter() - t0,
        "settle_s": settle,
        "peak_rss_mib": mem["VmHWM"] / 1024,
        "settled_rss_mib": mem["VmRSS"] / 1024,
        "writes": len(events),
        "breakdown": audit.breakdown(events, bench.USER),
        "rss_timeline": sampler.samples,
    }


#: The floor process: imports the operator; fills a Store as the operator's priming does (paged,
#: trimmed, interned); then also holds one LIST per watched kind as whole parsed dicts.
FLOOR = """
import json
from pathlib import Path
def kib():
    s = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines())
    return {k: int(s[k].split()[0]) for k in ("VmRSS", "VmHWM")}
from mlendpoints.controller import handlers, watches
from mlendpoints.clients.kube import Kube, load_api_client
from mlendpoints.clients.store import Store
imported = kib()
kube = Kube(load_api_client())
store = Store(watches.cached(), field_manager=kube.field_manager)
for w in watches.TABLE:
    if w.cached:
        for page in kube.pages(w.kind, None, labels=w.label_selector, limit=250):
            for item in page:
                store.prime(w.kind.kind, item)
cached = kib()
held = [kube.list(w.kind, None, labels=w.label_selector) for w in watches.TABLE if w.cached]
print(json.dumps({"imported": imported, "cached": cached, "held": kib(), "objects": sum(map(len, held))}))
"""


def floor(kubeconfig: Path) -> dict[str, Any]:
    """RSS of the floor process (MiB): after the imports, with the Store filled, and holding whole objects."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    out = subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "imports_rss_mib": got["imported"]["VmRSS"] / 1024,
        "store_rss_mib": got["cached"]["VmRSS"] / 1024,
        "held_rss_mib": got["held"]["VmRSS"] / 1024,
        "objects": got["objects"],
    }


PHASES = (
    ("first_start", "first start (children exist)"),
    ("restart", "restart"),
    ("baseline_restart", "restart, --baseline code"),
)


def lines(result: dict[str, Any]) -> list[str]:
    """The printed report: each phase's RSS next to the goal and the floor; writes by resource."""
    n, fl = result["endpoints"], result["floor"]
    out = [
        "",
        f"operator RSS over {n} endpoints ({fl['objects']} watched objects); goal: peak <= {RSS_GOAL_MIB} MiB",
        f"{'':<34}{'peak MiB':>10}{'settled MiB':>13}{'writes':>8}{'settle s':>10}",
    ]
    for key, label in PHASES:
        ph = result.get(key)
        if ph is None:
            continue
        verdict = "ok" if ph["peak_rss_mib"] <= RSS_GOAL_MIB else "> goal"
        out.append(
            f"{label:<34}{ph['peak_rss_mib']:>10.0f}{ph['settled_rss_mib']:>13.0f}{ph['writes']:>8}"
            f"{ph['settle_s']:>10.0f}  {verdict}"
        )
    out += [
        f"{'floor: imports + the Store filled':<34}{'':>10}{fl['store_rss_mib']:>13.0f}",
        f"{'  + every object as whole dicts':<34}{'':>10}{fl['held_rss_mib']:>13.0f}",
        f"{'floor: imports only':<34}{'':>10}{fl['imports_rss_mib']:>13.0f}",
        f"restart peak / floor (imports + Store): {result['restart']['peak_rss_mib'] / fl['store_rss_mib']:.2f}x",
    ]
    for key, _ in PHASES:
        if result.get(key, {}).get("writes"):
            out += [f"operator writes during {key} (goal for restart: 0):"]
            out += audit.format_table(result[key]["breakdown"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000, help="endpoints (x2 deployments)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/operator/results")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a source root holding another version of the mlendpoints package, restarted over the "
        "same objects after this one (e.g. main's: git archive main operator | tar -x -C DIR, "
        "then --baseline DIR/operator)",
    )
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="mle-mem-"))
    cluster = bench.start_cluster(state)
    kube = Kube(cluster.api_client())
    gateways = WatchingGateway(cluster, kube).start()
    kubeconfig = cluster.make_kubeconfig(bench.USER)

    def operator(name: str, source: Path | None = None) -> OperatorProcess:
        env = {"PYTHONPATH": str(source)} if source else {}
        log = state / f"operator-{name}.log"
        return OperatorProcess(kubeconfig, log, bench.USER, log_level="INFO", extra_env=env)

    result: dict[str, Any] = {"endpoints": args.endpoints, "machine": {"cpus": os.cpu_count()}}
    try:
        t0 = time.perf_counter()
        say(f"creating {args.endpoints} endpoints' resources and children")
        result["objects_applied"] = create(cluster, kube, args.endpoints)
        result["create_s"] = time.perf_counter() - t0
        say(f"created {sum(result['objects_applied'].values())} objects; waiting for the pods")
        bench.wait(lambda: pods_ready(kube, args.endpoints), timeout=3600, interval=5)
        result["pods_ready_s"] = time.perf_counter() - t0
        say("first start of the operator")
        result["first_start"] = phase(cluster, kube, operator("first"), args.endpoints)
        say("restart of the operator")
        result["restart"] = phase(cluster, kube, operator("restart"), args.endpoints)
        if args.baseline:
            say(f"restart of the operator from {args.baseline}")
            result["baseline_restart"] = phase(
                cluster, kube, operator("baseline", args.baseline), args.endpoints
            )
            result["baseline"] = str(args.baseline)
        say("floor")
        result["floor"] = floor(kubeconfig)
    finally:
        gateways.stop()
        result["machine"]["loadavg_end"] = os.getloadavg()
        result["machine"]["wall_s"] = time.perf_counter() - BEGAN
        cluster.stop(delete=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines(result)))
    print(f"result: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
