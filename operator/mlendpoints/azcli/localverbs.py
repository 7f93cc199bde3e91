"""``mlendpoints local up|down|list|show``: an endpoint and its deployments as local processes.

Exit status: 0 done; 1 files that cannot run locally, a deployment that failed to start (named,
with the tail of its log), or an unknown local endpoint (one line each); 2 a usage error.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from mlendpoints.local import lifecycle, procs, state
from mlendpoints.local import plan as plan_

STATE_DIR_HELP = f"state folder (default: ${state.ENV_DIR}, else $XDG_STATE_HOME/mlendpoints/local)"


def state_dir_option(f: Any) -> Any:
    return click.option("--state-dir", envvar=state.ENV_DIR, help=STATE_DIR_HELP)(f)


@click.group("local")
def local() -> None:
    """Local endpoints without a cluster: each deployment's scoring runtime as a process, behind one port.

    The front applies the endpoint's traffic, the azureml-model-deployment pin, mirror traffic and
    keys; `online-endpoint invoke --local` sends to it. No isolation, no resource limits, no
    autoscale: see docs/cli.md, "Local endpoints".
    """


@local.command("up")
@click.option(
    "-f", "--file", "files", multiple=True, required=True, help="our manifests or Azure ML CLI v2 YAML"
)
@click.option("--traffic", help='traffic split instead of the endpoint\'s, e.g. "blue=90 green=10"')
@click.option("--mirror-traffic", help='mirror traffic instead of the endpoint\'s, e.g. "green=10"')
@click.option("--host", default="127.0.0.1", show_default=True, help="address the front listens on")
@click.option("--port", type=int, default=0, help="the front's port (default: a free one)")
@click.option("-d", "--detach", is_flag=True, help="return once ready and leave the processes running")
@click.option("--timeout", type=float, default=300, show_default=True, help="seconds to wait for readiness")
@state_dir_option
def up(
    files: tuple[str, ...],
    traffic: str | None,
    mirror_traffic: str | None,
    host: str,
    port: int,
    detach: bool,
    timeout: float,
    state_dir: str | None,
) -> None:
    """Start the endpoint in -f with its deployments; return (--detach) or serve until Ctrl-C."""
    from mlendpoints.azcli import manifests

    signal.signal(signal.SIGTERM, _interrupt)  # stop what was started, as Ctrl-C does
    # Ctrl-C too, explicitly: a process started in the background by a non-interactive shell
    # (`cmd &` in a script, CI) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, _interrupt)
    root = state.root(state_dir)
    overrides = {
        "traffic": manifests.parse_traffic(traffic, "--traffic") if traffic is not None else None,
        "mirrorTraffic": manifests.parse_traffic(mirror_traffic, "--mirror-traffic")
        if mirror_traffic is not None
        else None,
    }
    began = time.monotonic()
    try:
        p = plan_.read(list(files), root, overrides=overrides)
        for line in p.warnings:
            click.echo(f"warning: {line}", err=True)
        ep = lifecycle.up(p, root, host=host, port=port, timeout_s=timeout, supervisor=not detach)
    except (plan_.PlanError, lifecycle.UpError, state.StateError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"local endpoint {ep.name} ready in {time.monotonic() - began:.1f}s", err=True)
    _summary(ep, root)
    if not detach:
        _foreground(root, ep)


def _summary(ep: state.LocalEndpoint, root: Path) -> None:
    click.echo(f"scoring URI: {ep.scoring_uri}")
    for d in ep.deployments.values():
        weight = ep.traffic.get(d.name, 0)
        click.echo(f"  {d.name}: {weight}% http://127.0.0.1:{d.port} pid {d.pid} log {d.log}")
    if ep.auth_mode == "key":
        click.echo(f"keys: mlendpoints local show -n {ep.name} (or online-endpoint get-credentials --local)")
    click.echo(f"invoke: mlendpoints online-endpoint invoke --local -n {ep.name} --request-file FILE")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _foreground(root: Path, ep: state.LocalEndpoint) -> None:
    """Serve until Ctrl-C or SIGTERM (then stop everything), or until `local down` from elsewhere."""
    click.echo("serving; Ctrl-C stops it", err=True)
    reported: set[str] = set()
    try:
        while (state.folder(root, ep.name) / state.STATE_FILE).exists():
            for d in ep.deployments.values():
                if d.name not in reported and not procs.alive(d.pid):
                    reported.add(d.name)
                    click.echo(f"deployment {d.name} exited; its log: {d.log}", err=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    if ep.name in state.names(root):
        lifecycle.down(root, ep.name)
    click.echo(f"stopped local endpoint {ep.name}", err=True)


@local.command("down")
@click.option("-n", "--name", required=True, help="endpoint name")
@state_dir_option
def down(name: str, state_dir: str | None) -> None:
    """Stop the endpoint's processes (its keys and logs stay in the state folder)."""
    try:
        killed = lifecycle.down(state.root(state_dir), name)
    except state.StateError as exc:
        raise click.ClickException(str(exc)) from exc
    for who in killed:
        click.echo(f"{who} did not stop on SIGTERM within {procs.STOP_GRACE_S:.0f}s: killed", err=True)
    click.echo(f"stopped local endpoint {name}", err=True)


@local.command("list")
@state_dir_option
def list_(state_dir: str | None) -> None:
    """The local endpoints: scoring URI, deployments and whether their processes run."""
    root = state.root(state_dir)
    rows = [["NAME", "SCORING URI", "DEPLOYMENTS", "STATE"]]
    for name in state.names(root):
        try:
            ep = state.read(root, name)
        except state.StateError as exc:
            rows.append([name, "-", "-", f"unreadable: {exc}"])
            continue
        deps = " ".join(f"{d}={ep.traffic.get(d, 0)}" for d in ep.deployments)
        rows.append([name, ep.scoring_uri, deps, _health(ep)])
    from mlendpoints.azcli import verbs

    click.echo(verbs.table(rows))


def _health(ep: state.LocalEndpoint) -> str:
    if ep.pid is None:
        return "starting"
    down_ = [d.name for d in ep.deployments.values() if not procs.alive(d.pid)]
    if not procs.alive(ep.pid):
        down_.insert(0, "front")
    return f"exited: {', '.join(down_)}" if down_ else "running"


@local.command("show")
@click.option("-n", "--name", required=True, help="endpoint name")
@state_dir_option
def show(name: str, state_dir: str | None) -> None:
    """The endpoint's state as JSON: scoring URI, ports, pids, logs, traffic and keys."""
    root = state.root(state_dir)
    try:
        ep = state.read(root, name)
        keys = state.read_keys(root, name) if ep.auth_mode == "key" else {}
    except state.StateError as exc:
        raise click.ClickException(str(exc)) from exc
    out = ep.model_dump(mode="json") | {"scoringUri": ep.scoring_uri, "state": _health(ep)} | keys
    click.echo(json.dumps(out, indent=2))
