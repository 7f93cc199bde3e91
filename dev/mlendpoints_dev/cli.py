"""``mlendpoints dev ...``: build, run and demo the local control plane.

    mlendpoints dev build                      # compile/cache the binaries only
    mlendpoints dev cluster up [--name dev]    # start (no-op if already healthy)
    mlendpoints dev cluster env                # eval "$(mlendpoints dev cluster env)"
    mlendpoints dev cluster status
    mlendpoints dev cluster down [--keep] [--keep-logs]
    mlendpoints dev operator start|stop        # the operator as a local process (the demo's)
    mlendpoints dev demo                       # cluster + CRDs + Gateway API + examples/
    mlendpoints dev values [--check]           # chart values.schema.json + tables from values.yaml

``demo`` runs the steps of :data:`mlendpoints_dev.demo.DEMO_STEPS` in order against one
:class:`~mlendpoints_dev.demo.DemoContext`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mlendpoints_dev import versions
from mlendpoints_dev.cluster import KubectlError, LocalCluster
from mlendpoints_dev.demo import DEMO_STEPS, DemoContext, not_ready


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cluster(args: argparse.Namespace) -> LocalCluster:
    return LocalCluster(
        args.name,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        process_nodes=getattr(args, "process_nodes", None),
        addons=not getattr(args, "no_addons", False),
    )


# --------------------------------------------------------------------------- cluster
def cmd_up(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    cluster.start(timeout=args.timeout)
    print(f"cluster {cluster.name!r} is up: {cluster.server}")
    addons = cluster.state().get("addons") or {}
    if addons:
        print(f"gateway:   {addons['gateway']['url']} (GatewayClass {addons['gateway']['class']})")
        print(f"azurite:   {addons['azurite']['blob_endpoint']} (Secret {addons['azurite']['secret']})")
        print(f"files:     {addons['files']['url']} <- {addons['files']['root']}")
    print(f'use it:    eval "$(mlendpoints dev cluster env --name {cluster.name})"')
    print(f"tear down: mlendpoints dev cluster down --name {cluster.name}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if not cluster.state_dir.exists():
        _err(f"no cluster {cluster.name!r} (nothing under {cluster.state_dir})")
        return 0
    from mlendpoints_dev import operator

    if operator.stop(cluster):
        print("operator stopped")
    if args.keep_logs:
        from mlendpoints_dev.logarchive import archive_logs

        cluster.stop()  # every process has closed its log before the copy
        kept = archive_logs(cluster.state_dir, versions.cache_root() / "logs", cluster.name)
        print(f"logs kept in {kept}")
    cluster.stop(delete=not args.keep)
    print(f"cluster {cluster.name!r} stopped" + ("" if args.keep else " and its state deleted"))
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    """``dev operator start|stop``: the operator as a local process (what the demo runs)."""
    cluster = _cluster(args)
    from mlendpoints_dev import operator

    if args.action == "stop":
        print("operator stopped" if operator.stop(cluster) else "no operator was running")
        return 0
    if not cluster.is_running():
        _err(f"cluster {cluster.name!r} is not running (mlendpoints dev cluster up --name {cluster.name})")
        return 1
    info = operator.start(cluster)
    print(
        f"operator pid {info['pid']}, metrics http://127.0.0.1:{info['metrics']}/metrics, log {info['log']}"
    )
    return 0


def env_lines(kubeconfig: Path, path_dirs: list[Path]) -> list[str]:
    """Shell lines that point kubectl/helm at the cluster (for ``eval``)."""
    dirs = ":".join(shlex.quote(str(d)) for d in path_dirs)
    return [f"export KUBECONFIG={shlex.quote(str(kubeconfig))}", f'export PATH={dirs}:"$PATH"']


#: The InstanceType of examples/compute/instancetypes.yaml whose pods go to the process nodes.
PROCESS_INSTANCE_TYPE = "cpu-small"


def instance_type_lines() -> list[str]:
    """``MLENDPOINTS_INSTANCE_TYPES`` mapping every CPU size of the VM-size table to
    :data:`PROCESS_INSTANCE_TYPE`: on the dev cluster, a size's own InstanceType has no nodeSelector,
    so its pods could land on a kwok node, look Ready and serve nothing."""
    from mlendpoints.convert.sizes import SIZES

    cpu = " ".join(f"{size}={PROCESS_INSTANCE_TYPE}" for size, shape in SIZES.items() if not shape.gpus)
    return [
        f"# Azure VM sizes -> {PROCESS_INSTANCE_TYPE} (examples/compute/instancetypes.yaml; pods run on the process nodes)",
        f"export MLENDPOINTS_INSTANCE_TYPES={shlex.quote(cpu)}",
    ]


#: The Gateway of examples/gateway/gateway.yaml, as the demo applies it (namespace ``default``).
DEMO_GATEWAY = ("default", "ml-gateway")


def demo_gateway_lines(cluster: LocalCluster) -> list[str]:
    """``MLENDPOINTS_GATEWAY`` naming the demo's Gateway when it exists, so ``create`` and the SDK's
    ``MLClient`` attach endpoints to it (without it they get ``routing.type: none`` and a
    cluster-internal scoring URI the host cannot reach). Its listener admits routes of its own
    namespace only. Empty when the Gateway does not exist (the demo has not run)."""
    namespace, name = DEMO_GATEWAY
    found = cluster.kubectl("get", "gateway", name, "-n", namespace, "-o", "name", check=False, timeout=30)
    if found.returncode != 0:
        return []
    return [
        f"# the demo's Gateway (examples/gateway/gateway.yaml): endpoints in namespace {namespace} attach to it",
        f"export MLENDPOINTS_GATEWAY={namespace}/{name}",
    ]


def cmd_env(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if not cluster.state():
        _err(f"no cluster {cluster.name!r}; start it with: mlendpoints dev cluster up --name {cluster.name}")
        return 1
    if not cluster.is_running():
        _err(
            f"warning: cluster {cluster.name!r} is not running (mlendpoints dev cluster up --name {cluster.name})"
        )
    from mlendpoints_dev import addons

    for line in env_lines(cluster.kubeconfig, [cluster.bin("kubectl").parent, cluster.bin("helm").parent]):
        print(line)
    for line in addons.env_lines(cluster.state().get("addons") or {}):
        print(line)
    from mlendpoints_dev import processnodes

    if processnodes.info(cluster):
        for line in instance_type_lines():
            print(line)
    if cluster.is_running():
        for line in demo_gateway_lines(cluster):
            print(line)
    print(f'# eval "$(mlendpoints dev cluster env --name {cluster.name})"')
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    state = cluster.state()
    if not state:
        print(f"cluster {cluster.name!r}: not created ({cluster.state_dir})")
        return 1
    running = cluster.is_running()
    print(f"cluster {cluster.name!r}: {'running' if running else 'NOT running'}")
    print(f"  state dir:  {cluster.state_dir}")
    print(f"  server:     {state.get('server')}")
    print(f"  kubeconfig: {cluster.kubeconfig}")
    print(f"  audit log:  {cluster.audit_log}")
    print("  versions:   " + ", ".join(f"{k} {v}" for k, v in state.get("versions", {}).items()))
    if "ready_seconds" in state:
        print(f"  started in: {state['ready_seconds']}s")
    addons = state.get("addons") or {}
    if addons:
        print(f"  gateway:    {addons['gateway']['url']} (GatewayClass {addons['gateway']['class']})")
        print(f"  azurite:    {addons['azurite']['blob_endpoint']}")
        print(f"  files:      {addons['files']['url']} <- {addons['files']['root']}")
    procs = {p["name"]: p for p in state.get("processes", [])}
    for name, alive in cluster.processes().items():
        print(
            f"  {name:<24} pid {procs[name]['pid']:<8} {'alive' if alive else 'DEAD'}  log {procs[name]['log']}"
        )
    from mlendpoints_dev import processnodes

    pn = processnodes.info(cluster)
    if pn:
        print(f"  pod network: {pn['cidr']} on bridge {pn['bridge']}, kubelet API port {pn['kubelet_port']}")
        for n in pn["nodes"]:
            print(f"    {n['name']:<18} podCIDR {n['podCIDR']:<16} address {n['address']}")
    if running:
        print(cluster.kubectl("get", "nodes", "-o", "wide", check=False).stdout.rstrip())
    return 0 if running else 1


def cmd_build(args: argparse.Namespace) -> int:
    from mlendpoints_dev.build import BuildError, ensure_binaries

    try:
        paths = ensure_binaries()
    except BuildError as e:
        _err(f"error: {e}")
        return 3
    for name, path in paths.all().items():
        print(f"{name:<24} {path}")
    return 0


# ---------------------------------------------------------------------------- values
def cmd_values(args: argparse.Namespace) -> int:
    """Regenerate (or with ``--check`` verify) the chart's values schema and values tables."""
    from mlendpoints_dev import valuesdocs
    from mlendpoints_dev.build import ensure_binaries
    from mlendpoints_dev.install import repo_root

    repo = Path(args.repo) if args.repo else repo_root()
    if repo is None:
        _err("error: run this in a source checkout (charts/mlendpoints), or pass --repo")
        return 2
    files = valuesdocs.generate(repo, ensure_binaries(only=("helm-docs",)).helm_docs)
    if args.check:
        stale = valuesdocs.diff(files, repo)
        if stale:
            print(stale, end="")
            _err(f"stale: regenerate with `{valuesdocs.COMMAND}` and commit the result")
            return 1
        print(", ".join(str(f.path) for f in files) + ": current")
        return 0
    root = Path(args.out) if args.out else repo
    changed = valuesdocs.write(files, root)
    for path in changed:
        print(f"updated {root / path}")
    if not changed:
        print("all current; nothing written")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mlendpoints_dev.install import repo_root

    repo = Path(args.repo) if args.repo else repo_root()
    if repo is None:
        _err("error: run the demo from a source checkout (crds/ and examples/), or pass --repo")
        return 2
    ctx = DemoContext(name=args.name, repo=repo, state_dir=Path(args.state_dir) if args.state_dir else None)
    env = f'eval "$(mlendpoints dev cluster env --name {args.name})"'
    for i, (title, step) in enumerate(DEMO_STEPS, 1):
        ctx.log(f"[demo {i}/{len(DEMO_STEPS)}] {title}")
        try:
            step(ctx)
        except Exception as exc:  # the cluster may be up: say how to look at it and remove it
            _err(f"error: demo step {i} ({title}) failed: {exc}")
            _err(f"look:      {env}; kubectl get ml,pods -A; kubectl describe pods")
            _err(f"tear down: mlendpoints dev cluster down --name {args.name}")
            return 1
    ctx.log(f"\nexplore:   {env}; kubectl get ml,deploy,pods -A")
    ctx.log(f"tear down: mlendpoints dev cluster down --name {args.name}")
    return 0


# ------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlendpoints dev", description="local Kubernetes control plane (no Docker); chart docs"
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    def named(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--name", default="dev", help="cluster name (default: dev)")
        sp.add_argument("--state-dir", help="state directory (default: ~/.cache/mlendpoints/clusters/<name>)")
        return sp

    cluster = sub.add_parser("cluster", help="start/stop/inspect the local cluster")
    csub = cluster.add_subparsers(dest="action", required=True)
    up = named(csub.add_parser("up", help="start the cluster (no-op if it is already running)"))
    up.add_argument("--timeout", type=float, default=180, help="seconds to wait for readiness (default 180)")
    up.add_argument(
        "--no-addons",
        action="store_true",
        help="control plane only: no Traefik gateway, Azurite or file server",
    )
    up.add_argument(
        "--process-nodes",
        type=int,
        default=None,
        help="nodes whose pods run as local processes (default $MLENDPOINTS_PROCESS_NODES or 2; 0: none)",
    )
    up.set_defaults(func=cmd_up)
    down = named(csub.add_parser("down", help="stop the cluster and delete its state"))
    down.add_argument("--keep", action="store_true", help="keep the state (etcd data, certs) for the next up")
    down.add_argument(
        "--keep-logs",
        action="store_true",
        help="copy every log (components, operator, audit, pods' containers) to "
        "~/.cache/mlendpoints/logs/<name>-<time>/ before deleting the state",
    )
    down.set_defaults(func=cmd_down)
    named(csub.add_parser("env", help="print shell exports for KUBECONFIG and PATH")).set_defaults(
        func=cmd_env
    )
    named(csub.add_parser("status", help="show processes, ports and nodes")).set_defaults(func=cmd_status)

    sub.add_parser("build", help="build and cache the binaries only").set_defaults(func=cmd_build)
    op = sub.add_parser("operator", help="start or stop the operator as a local process (as the demo does)")
    osub = op.add_subparsers(dest="action", required=True)
    for action, help_ in (("start", "(re)start `mlendpoints run` against the cluster"), ("stop", "stop it")):
        named(osub.add_parser(action, help=help_)).set_defaults(func=cmd_operator)

    values = sub.add_parser(
        "values", help="generate the chart's values.schema.json and values tables from values.yaml"
    )
    values.add_argument("--check", action="store_true", help="write nothing; exit 1 with a diff if stale")
    values.add_argument("--out", help="write into this directory (same relative paths), not the checkout")
    values.add_argument("--repo", help="source checkout holding charts/mlendpoints (default: found from cwd)")
    values.set_defaults(func=cmd_values)

    demo = named(sub.add_parser("demo", help="cluster up + CRDs + Gateway API CRDs + examples/"))
    demo.add_argument("--repo", help="source checkout holding crds/ and examples/ (default: found from cwd)")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str]) -> int:
    """Entry point for ``mlendpoints dev ...``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except (RuntimeError, KubectlError) as e:  # BuildError and ClusterError are RuntimeErrors
        _err(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        return 130
    return rc


__all__ = ["build_parser", "demo_gateway_lines", "env_lines", "main", "not_ready"]
