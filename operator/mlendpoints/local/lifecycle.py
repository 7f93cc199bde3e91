"""``local up`` and ``local down``: a :class:`~.plan.Plan` -> running processes -> ``endpoint.json``, and back.

Order in :func:`up`: keys (authMode key) -> fetch what our manifests name by URI -> one runtime per
deployment on a free loopback port, and the front -> wait for every readiness probe, then until the
front answers -> the state file gets the front's pid (``local list`` says "starting" until then). Any failure stops what was started and removes the state,
so a failed ``up`` leaves no process behind.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mlendpoints.api import contract
from mlendpoints.local import plan as plan_
from mlendpoints.local import procs, state


class UpError(RuntimeError):
    """``local up`` could not start the endpoint; the message names the deployment (or the front)."""


def prepare(p: plan_.Plan, fetch: bool = True) -> None:
    """Fill the folders that come from URIs (the storage initializer's fetch) or ConfigMaps.

    Raises:
        UpError: a fetch failed (the deployment, URI and reason).
    """
    for dep in p.deployments:
        for folder in (dep.model, dep.code):
            if folder is None or (folder.uri is None and folder.files is None):
                continue
            shutil.rmtree(folder.path, ignore_errors=True)
            folder.path.mkdir(parents=True)
            if folder.files is not None:
                for name, data in folder.files.items():
                    (folder.path / name).write_bytes(data)
            elif fetch and folder.uri is not None:
                _fetch(dep.name, folder.uri, folder.path)


def _fetch(deployment: str, uri: str, dest: Path) -> None:
    from mlendpoints.storage import fetch
    from mlendpoints.storage.errors import FetchError

    try:
        fetch.fetch(uri, dest)
    except FetchError as exc:
        raise UpError(f"deployment {deployment}: fetching {uri}: {exc}") from exc


def up(
    p: plan_.Plan, root: Path, *, host: str, port: int, timeout_s: float, supervisor: bool
) -> state.LocalEndpoint:
    """Start the endpoint of ``p``; returns its state once every deployment is ready and the front answers.

    Args:
        root: the state root (:func:`state.root`).
        host, port: where the front listens (port 0: a free one).
        timeout_s: longest wait for all readiness probes.
        supervisor: this process stays in the foreground (its pid is recorded for ``local down``).

    Raises:
        UpError: the endpoint runs already, a deployment failed to start (its name, exit status
            and log tail), or the front did not start.
    """
    name = p.endpoint.metadata.name
    if name in state.names(root) and _running(state.read(root, name)):
        raise UpError(f"local endpoint {name} is running already; `mlendpoints local down -n {name}` first")
    if port and not procs.port_free(host, port):
        raise UpError(
            f"--port {port}: {host}:{port} is in use; choose another port, or leave --port out for a free one"
        )
    keys = state.ensure_keys(root, name) if p.auth_mode == "key" else None
    prepare(p)
    ep = state.LocalEndpoint(
        name=name,
        host=host,
        port=port or procs.free_port(host),
        auth_mode=p.auth_mode,
        traffic=dict(p.endpoint.spec.traffic),
        mirror_traffic=dict(p.endpoint.spec.mirror_traffic),
        deployments={},
        supervisor_pid=os.getpid() if supervisor else None,
    )
    started: list[procs.Started] = []
    try:  # on any failure (Ctrl-C while waiting included) nothing started is left running
        for dep in p.deployments:
            started.append(_start_runtime(dep, root, ep, keys))
        state.write(root, ep)  # the front reads the ports from it
        front = procs.spawn(
            "the front",
            [sys.executable, "-m", "mlendpoints.local.front", str(root), name],
            dict(os.environ),
            state.folder(root, name) / "logs" / "front.log",
            ep.port,
        )
        started.append(front)  # it starts while the models load: up waits for the slower of the two
        procs.wait_ready(started[:-1], timeout_s=timeout_s)
        procs.wait_ready([front], timeout_s=30, probe=procs.answers)
    except BaseException as exc:
        procs.stop([s.process.pid for s in started])
        state.remove(root, name)
        if isinstance(exc, procs.StartError):
            raise UpError(str(exc)) from exc
        raise
    ep.pid = front.process.pid
    state.write(root, ep)
    return ep


def _start_runtime(
    dep: plan_.DeploymentPlan, root: Path, ep: state.LocalEndpoint, keys: Path | None
) -> procs.Started:
    """Start one runtime on a free port and record it in ``ep.deployments``."""
    log = state.folder(root, ep.name) / "logs" / f"{dep.name}.log"
    port = procs.free_port()
    env = dict(os.environ) | dep.env | {contract.ENV_PORT: str(port)}
    if keys is not None:  # the runtime checks the key too: its loopback port is not a way around it
        env[contract.ENV_AUTH_KEY_DIR] = str(keys)
    started = procs.spawn(f"deployment {dep.name}", procs.runtime_argv(), env, log, port)
    ep.deployments[dep.name] = state.LocalDeployment(
        name=dep.name,
        port=port,
        pid=started.process.pid,
        log=str(log),
        model_dir=str(dep.model.path) if dep.model else None,
        code_dir=str(dep.code.path) if dep.code else None,
        timeout_s=dep.timeout_s,
    )
    return started


def _running(ep: state.LocalEndpoint) -> bool:
    pids = [ep.pid, *(d.pid for d in ep.deployments.values())]
    return any(procs.alive(pid) for pid in pids)


def down(root: Path, name: str) -> list[str]:
    """Stop the endpoint's processes and remove its state file (keys and logs stay).

    Returns:
        what had to be killed with SIGKILL (names), usually nothing.

    Raises:
        state.StateError: no such local endpoint.
    """
    ep = state.read(root, name)
    by_pid = {d.pid: d.name for d in ep.deployments.values() if d.pid is not None}
    if ep.pid is not None:
        by_pid[ep.pid] = "the front"
    killed = procs.stop(list(by_pid))
    state.remove(root, name)
    return [by_pid[p] for p in killed]
