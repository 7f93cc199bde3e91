"""The steps of ``mlendpoints dev demo``: cluster, CRDs, Gateway API, operator, models, examples, score.

``demo`` is a list of steps (:data:`DEMO_STEPS`) run in order against one :class:`DemoContext`
by :func:`mlendpoints_dev.cli.cmd_demo`; a new step is one more entry in the list.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlendpoints_dev import versions
from mlendpoints_dev.cluster import GPU_NODE, LocalCluster


@dataclass
class DemoContext:
    """What demo steps share: the cluster (once started), the checkout, a progress printer."""

    name: str
    repo: Path
    state_dir: Path | None = None
    cluster: LocalCluster | None = None  # set by the first step
    notes: list[str] = field(default_factory=list)
    #: Each diabetes deployment's prediction for the demo row (set by the models step).
    expected: dict[str, float] = field(default_factory=dict)

    def log(self, msg: str) -> None:
        print(msg, flush=True)


def _demo_cluster_up(ctx: DemoContext) -> None:
    ctx.cluster = LocalCluster(ctx.name, state_dir=ctx.state_dir, addons=True).start()


def _lc(ctx: DemoContext) -> LocalCluster:
    if ctx.cluster is None:
        raise RuntimeError("the cluster step must run before the others")
    return ctx.cluster


def _demo_crds(ctx: DemoContext) -> None:
    from mlendpoints_dev.install import DEMO_HELM_RELEASE, install_crds

    crd_dir = ctx.repo / "crds"
    # Marked as the release README.md's `helm install` creates, so installing the chart later adopts them.
    applied = install_crds(_lc(ctx), crd_dir, helm_release=DEMO_HELM_RELEASE)
    if not applied:
        ctx.log(f"  (no CRDs found in {crd_dir}; generate them with: mlendpoints crds)")
    for obj in applied:
        ctx.log(f"  established {obj}")


def _demo_gateway_api(ctx: DemoContext) -> None:
    from mlendpoints_dev.install import install_gateway_api

    applied = install_gateway_api(_lc(ctx))
    ctx.log(f"  {len([a for a in applied if a.startswith('customresourcedefinition')])} CRDs established")


def _demo_examples(ctx: DemoContext) -> None:
    """Apply examples/, except those needing a GPU when no node with one really runs containers:
    on kwok's simulated GPU node they would report Ready without ever serving."""
    from mlendpoints_dev.install import apply_examples, gpu_examples, manifest_files, real_gpu_nodes

    cluster, examples = _lc(ctx), ctx.repo / "examples"
    skip: dict[Path, str] = {}
    if not real_gpu_nodes(cluster.kubectl_json("get", "nodes")["items"]):
        skip = gpu_examples(manifest_files(examples, recursive=True))
    for f, why in sorted(skip.items()):
        ctx.log(
            f"  skipping {f.relative_to(examples)}: {why}, and no node of this cluster runs GPU containers "
            f"(kwok's {GPU_NODE} only simulates one; a deployment there would look Ready without serving)"
        )
    applied = apply_examples(cluster, examples, log=ctx.log, exclude=skip)
    if not applied:
        ctx.log(f"  (no manifests under {ctx.repo / 'examples'})")


def _demo_operator(ctx: DemoContext) -> None:
    from mlendpoints_dev import operator

    info = operator.start(_lc(ctx))
    ctx.log(
        f"  operator pid {info['pid']}, metrics http://127.0.0.1:{info['metrics']}/metrics, log {info['log']}"
    )


def _demo_settle(ctx: DemoContext, timeout: float = 90) -> None:
    """Wait until the operator has reported on every endpoint and deployment (Ready or Stalled)."""
    cluster = _lc(ctx)
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        items = cluster.kubectl_json("get", "onlineendpoints,onlinedeployments,instancetypes", "-A")["items"]
        pending = []
        for obj in items:
            status = obj.get("status") or {}
            conds = {c["type"]: c["status"] for c in status.get("conditions") or []}
            settled = status.get("observedGeneration") == obj["metadata"].get("generation") and (
                conds.get("Ready") == "True" or conds.get("Stalled") == "True"
            )
            if not settled:
                pending.append(f"{obj['kind']}/{obj['metadata']['name']}")
        if not pending:
            ctx.log(f"  {len(items)} objects reconciled")
            return
        time.sleep(1)
    ctx.log(f"  still reconciling after {timeout:.0f}s: {', '.join(pending)}")


def _addon(ctx: DemoContext, name: str) -> dict[str, str]:
    addons = _lc(ctx).state().get("addons") or {}
    if name not in addons:
        raise RuntimeError(
            f"the cluster runs without {name}; restart it: mlendpoints dev cluster down && mlendpoints dev demo"
        )
    return dict(addons[name])


def _demo_models(ctx: DemoContext) -> None:
    from mlendpoints_dev import demoscore

    ctx.expected = demoscore.train_and_upload(_addon(ctx, "azurite")["connection_string"], ctx.log)


def _demo_wait_ready(ctx: DemoContext) -> None:
    from mlendpoints_dev import demoscore

    demoscore.wait_ready(_lc(ctx), ctx.log)


def _demo_score(ctx: DemoContext) -> None:
    from mlendpoints_dev import demoscore

    key = demoscore.endpoint_key(_lc(ctx))
    demoscore.score_through_gateway(_addon(ctx, "gateway")["url"], key, ctx.expected, ctx.log)


def _demo_show(ctx: DemoContext) -> None:
    cluster = _lc(ctx)
    ctx.log("$ kubectl get ml -A")
    res = cluster.kubectl("get", "ml", "-A", check=False)
    ctx.log((res.stdout + res.stderr).rstrip() or "(none)")
    from mlendpoints_dev.demoscore import simulated_deployments

    for line in not_ready(cluster.kubectl_json("get", "ml", "-A")["items"]):
        ctx.log(line)
    pods = cluster.kubectl_json("get", "pods", "-A", "-l", "mlendpoints.io/deployment")["items"]
    for name, nodes in simulated_deployments(pods, cluster.kubectl_json("get", "nodes")["items"]).items():
        ctx.log(
            f"  NOT SERVING: {name} runs only on kwok's simulated node(s) {', '.join(nodes)}: no container "
            "runs there, so its Ready shows scheduling, not serving (give it an InstanceType on the "
            "process nodes, like cpu-small, to run it)"
        )


def not_ready(items: list[dict[str, Any]]) -> list[str]:
    """One line per example object that is not Ready, with its Ready reason and message.

    The demo provides the diabetes models (Azurite) and a cluster; some examples show fields that
    need what it does not provide (your data in PVCs, Azure credentials), so they end Stalled or
    waiting. Saying so beats leaving the reader to find out.
    """
    lines = []
    for obj in items:
        conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
        ready = conds.get("Ready") or {}
        if ready.get("status") == "True":
            continue
        meta = obj["metadata"]
        why = f"{ready.get('reason') or 'no status yet'}: {ready.get('message') or ''}".rstrip(": ")
        lines.append(f"  NOT READY: {meta.get('namespace', '')}/{obj['kind']}/{meta['name']}: {why[:240]}")
    if lines:
        lines.append(
            "  (examples that need data or credentials the demo does not provide: see each file's header)"
        )
    return lines


#: The demo, in order. Later steps (e.g. starting the operator) slot in before "show".
DEMO_STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("start the local cluster", _demo_cluster_up),
    ("install the mlendpoints CRDs (crds/)", _demo_crds),
    (f"install the Gateway API {versions.GATEWAY_API} standard CRDs", _demo_gateway_api),
    ("start the operator (mlendpoints run)", _demo_operator),
    ("train the example models (scikit-learn) and upload them to Azurite", _demo_models),
    ("apply examples/ (server-side)", _demo_examples),
    ("wait for the diabetes endpoint and its blue/green deployments to be Ready", _demo_wait_ready),
    ("wait for the operator to reconcile the rest", _demo_settle),
    ("show the endpoints", _demo_show),
    ("score through the gateway with the endpoint's key", _demo_score),
]
