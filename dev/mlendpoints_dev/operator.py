"""Run the operator next to a local cluster (for ``mlendpoints dev demo``), as a detached process.

Its PID and log live in the cluster's state directory, so ``mlendpoints dev cluster down`` stops it
with the control plane and a later demo restarts it with the current code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mlendpoints_dev.cluster import LocalCluster, pid_runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _state(cluster: LocalCluster) -> Path:
    return cluster.state_dir / "operator.json"


def stop(cluster: LocalCluster, grace: float = 15) -> bool:
    """Stop the demo operator of ``cluster`` if one runs; returns whether one was stopped."""
    path = _state(cluster)
    if not path.is_file():
        return False
    info = json.loads(path.read_text())
    pid, exe = int(info["pid"]), str(info["exe"])
    path.unlink()
    if not pid_runs(pid, exe):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_runs(pid, exe):
        time.sleep(0.2)
    if pid_runs(pid, exe):
        os.kill(pid, signal.SIGKILL)
    return True


def start(cluster: LocalCluster, timeout: float = 60) -> dict[str, int | str]:
    """(Re)start ``mlendpoints run`` against ``cluster``; wait until its liveness probe answers."""
    stop(cluster)
    log_path = cluster.state_dir / "logs" / "operator.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    metrics, liveness = _free_port(), _free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "MLENDPOINTS_METRICS_PORT": str(metrics),
        "MLENDPOINTS_LIVENESS_PORT": str(liveness),
        "MLENDPOINTS_BIND_ADDRESS": "127.0.0.1",
    }
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlendpoints", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    info: dict[str, int | str] = {
        "pid": proc.pid,
        "exe": sys.executable,
        "metrics": metrics,
        "liveness": liveness,
        "log": str(log_path),
    }
    _state(cluster).write_text(json.dumps(info))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the operator exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=2) as r:
                if r.status == 200:
                    return info
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the operator did not become live within {timeout:.0f}s; see {log_path}")
