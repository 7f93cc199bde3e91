"""Process plumbing of the local control plane: free ports, PID checks, spawn-time hooks, log tails.

Rules it implements (see :mod:`mlendpoints_dev.cluster`): ports are free loopback ports picked
with ``bind(('127.0.0.1', 0))``; a process is stopped by PID only after checking that the PID
still runs the binary we started.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlendpoints_dev.kubecluster import ClusterError, Log

if TYPE_CHECKING:
    from mlendpoints_dev.pki import PKI


@dataclass
class Proc:
    """One recorded process of ``state.json``: component name, PID, executable and log file."""

    name: str
    pid: int
    exe: str
    log: str


def stderr_log(prefix: str) -> Log:
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{prefix} +{time.monotonic() - t0:5.1f}s] {msg}", file=sys.stderr, flush=True)

    return log


def free_port(preferred: int | None = None) -> int:
    """A free loopback TCP port: ``preferred`` if it is free (stable ports across restarts), else any."""
    candidates = [preferred, 0] if preferred else [0]
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port or 0))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise ClusterError("no free loopback port")  # pragma: no cover - bind(0) does not fail in practice


def proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 3 of /proc/PID/stat is the state; a zombie has exited, only its exit status remains.
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None
    return raw.decode(errors="replace").split("\0")


def pid_runs(pid: int, exe: str) -> bool:
    """True if ``pid`` is alive and still runs ``exe`` (guards against killing a recycled PID)."""
    argv = proc_cmdline(pid)
    return bool(argv) and argv is not None and argv[0] == exe


def pdeathsig() -> Callable[[], None]:
    """A preexec_fn asking Linux to SIGTERM the child when its parent dies (pytest killed hard)."""
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return preexec


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback http only
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except OSError:
        return f"({path} missing)"
    return "\n".join(data.splitlines()[-lines:])


def https_ok(url: str, pki: PKI, timeout: float = 3) -> bool:
    """True if ``url`` answers 200 over TLS verified by the cluster CA, as the ``admin`` client."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    admin = pki.client("admin")
    ctx.load_cert_chain(str(admin.cert), str(admin.key))
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as r:  # noqa: S310 - loopback only
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError, ssl.SSLError):
        return False


def terminate(proc: Proc, popen: subprocess.Popen[bytes] | None, *, grace: float, log: Log) -> None:
    """Stop ``proc`` if its PID still runs its binary: SIGTERM, then SIGKILL every ``grace`` seconds.

    ``popen`` is our own handle when this process started it (it is then reaped, so no zombie
    stays); None for a process another ``up`` started.
    """
    if not pid_runs(proc.pid, proc.exe):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pid_runs(proc.pid, proc.exe):
        if time.monotonic() > deadline:
            log(f"{proc.name} (pid {proc.pid}) ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + grace
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=0.05)
        else:
            time.sleep(0.05)
    if popen is not None:  # reap it (we are its parent)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
