"""Dev cluster benchmark: warm ``dev cluster up`` with process nodes and gateway, and apply -> first score.

    .venv/bin/python bench/devcluster/bench.py [--out bench/devcluster/results]

1. **warm up** (binaries cached, fresh state directory): the control plane alone (``--no-addons``,
   the floor) next to the full cluster (process nodes, Traefik, Azurite, file server).
2. **apply -> first successful score**: with the operator running and the model already in
   Azurite, the time from ``kubectl apply`` of an endpoint + deployment to the first 200 through
   the gateway, split into apply -> deployment Ready -> first 200.

Prints a table and writes a JSON result file (with the load average: the machine is shared).
Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
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

from tests.e2e import helpers  # noqa: E402
from tests.integration.conftest import OPERATOR_USER, OperatorProcess, condition, get  # noqa: E402

from mlendpoints_dev import LocalCluster, azurite, demoscore  # noqa: E402
from mlendpoints_dev.cluster import KWOK_NODE_ANNOTATION  # noqa: E402
from mlendpoints_dev.install import install_crds  # noqa: E402
from mlendpoints_dev.nodeagent.nodes import KIND_LABEL  # noqa: E402


def _up(state: Path, addons: bool) -> tuple[LocalCluster, float]:
    cluster = LocalCluster(
        f"bench-{os.getpid()}-{int(addons)}", state_dir=state, addons=addons, die_with_parent=True
    )
    t0 = time.perf_counter()
    cluster.start(timeout=600)
    return cluster, time.perf_counter() - t0


def _first_score(cluster: LocalCluster, work: Path) -> dict[str, float]:
    addons = cluster.state()["addons"]
    install_crds(cluster, ROOT / "crds")
    op = OperatorProcess(kubeconfig=cluster.make_kubeconfig(OPERATOR_USER), log_path=work / "operator.log",
                         user=OPERATOR_USER, log_level="INFO", gateway_probe=True)  # fmt: skip
    op.start()
    try:
        nodes = [n for n in cluster.kubectl_json("get", "nodes")["items"]
                 if KWOK_NODE_ANNOTATION not in (n["metadata"].get("annotations") or {})]  # fmt: skip
        if not nodes:
            raise SystemExit("no process nodes on this cluster: pods cannot run, nothing to score")
        taints = [t for n in nodes for t in (n.get("spec") or {}).get("taints") or []]
        tolerations = [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in taints]
        cluster.apply(helpers.instance_type({KIND_LABEL: "process"}, tolerations))
        cluster.apply(helpers.gateway())
        trained = demoscore._diabetes_models()
        import joblib

        (work / "m").mkdir()
        joblib.dump(trained["blue"], work / "m" / "model.joblib")
        conn = addons["azurite"]["connection_string"]
        azurite.upload(conn, work / "m", helpers.CONTAINER, "bench/blue")
        ns = "bench"
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        cluster.wait_for_default_serviceaccount(ns)
        cluster.apply([azurite.secret_manifest(conn), helpers.score_configmap()], "-n", ns)
        url = helpers.score_url(addons["gateway"]["url"], ns, "bench")
        t0 = time.perf_counter()
        cluster.apply([helpers.endpoint("bench", {"blue": 100}),
                       helpers.deployment("blue", "bench", f"az://{helpers.CONTAINER}/bench/blue/")], "-n", ns)  # fmt: skip
        ready_at = None
        while time.perf_counter() - t0 < 600:
            if (
                ready_at is None
                and (condition(get(cluster, "onlinedeployment", "blue", ns), "Ready") or {}).get("status")
                == "True"
            ):
                ready_at = time.perf_counter() - t0
            keys = cluster.kubectl(
                "get", "secret", "bench-keys", "-n", ns, "-o", "jsonpath={.data.primaryKey}", check=False
            )
            if keys.returncode == 0 and keys.stdout:
                import base64

                status, _ = demoscore.post(url, json.dumps({"data": trained["row"]}).encode(),
                                           {"Authorization": f"Bearer {base64.b64decode(keys.stdout).decode()}"})  # fmt: skip
                if status == 200:
                    return {"apply_to_ready_s": round(ready_at or time.perf_counter() - t0, 2),
                            "apply_to_first_score_s": round(time.perf_counter() - t0, 2)}  # fmt: skip
            time.sleep(0.25)
        raise SystemExit(f"no successful score within 600 s; operator log {op.log_path}")
    finally:
        op.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "devcluster" / "results")
    a = p.parse_args()
    result: dict[str, Any] = {
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        floor, t_floor = _up(work / "floor", addons=False)
        floor.stop()
        full, t_full = _up(work / "full", addons=True)
        try:
            result["warm_up_control_plane_only_s"] = round(t_floor, 2)
            result["warm_up_with_nodes_and_addons_s"] = round(t_full, 2)
            result.update(_first_score(full, work))
        finally:
            full.stop()
    result["load_after"] = os.getloadavg()
    rows = [
        ("warm up, control plane only (floor)", result["warm_up_control_plane_only_s"]),
        ("warm up, process nodes + gateway + Azurite + files", result["warm_up_with_nodes_and_addons_s"]),
        ("apply -> deployment Ready", result["apply_to_ready_s"]),
        ("apply -> first successful score through the gateway", result["apply_to_first_score_s"]),
    ]
    for what, secs in rows:
        print(f"{what:<55} {secs:>8.2f} s")
    print(f"load average before/after: {result['load_before']} / {result['load_after']}")
    a.out.mkdir(parents=True, exist_ok=True)
    out = a.out / f"devcluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
