"""Start, health-check and stop the processes of a local endpoint.

Each process is started in its own session (``start_new_session``), so its pid is also its process
group: stopping sends SIGTERM to the group (a score script's own children go too), then SIGKILL
after :data:`STOP_GRACE_S`. A pid is only signalled while it still leads its own process group, so
a pid the system has since reused for something else is left alone.

Health: a deployment is up when its readiness probe (``GET /readyz``, the pod's) answers 200; it
failed when its process exits first (the runtime exits 3 when ``init()`` or the model load fails).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlendpoints.api import contract

#: seconds between SIGTERM and SIGKILL
STOP_GRACE_S = 10.0
#: how often readiness is polled
POLL_S = 0.1
#: runtime exit status for a failed model load (:data:`mlendpoints.runtime.server.EXIT_LOAD_FAILED`)
EXIT_LOAD_FAILED = 3


class StartError(RuntimeError):
    """A process that exited (or never answered) before it was ready; the message names it."""


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    #: the log's size when this process started: its own output begins there
    offset: int = 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (bound to 0 and released: another process may take it
    before ours binds; the start then fails naming the process, and ``local up`` can be rerun)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (a front of another local endpoint, or any server,
    holding it would otherwise answer the readiness check in this one's place)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def spawn(name: str, argv: list[str], env: dict[str, str], log: Path, port: int) -> Started:
    """Start ``argv`` in its own session with stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Started(name, process, port, log, offset)


def runtime_argv() -> list[str]:
    """``mlendpoints serve`` with this interpreter (the same environment as the CLI)."""
    return [sys.executable, "-m", "mlendpoints", "serve"]


def wait_ready(
    started: list[Started], *, timeout_s: float, probe: Callable[[Started], bool] | None = None
) -> None:
    """Wait until every process answers its probe (default: the readiness path answers 200).

    Raises:
        StartError: a process exited first (its name, exit status and the tail of its log), or
            ``timeout_s`` passed (the names of those not ready).
    """
    check = probe or ready
    pending = list(started)
    deadline = time.monotonic() + timeout_s
    while pending:
        for s in list(pending):
            code = s.process.poll()
            if code is not None:
                why = "init() or the model load failed" if code == EXIT_LOAD_FAILED else "it exited"
                raise StartError(
                    f"{s.name} failed to start ({why}, exit status {code}); the end of {s.log}:\n{tail(s.log, 20, start=s.offset)}"
                )
            if check(s):
                pending.remove(s)
        if pending and time.monotonic() > deadline:
            names = ", ".join(s.name for s in pending)
            raise StartError(f"not ready after {timeout_s:.0f}s: {names} (see {pending[0].log})")
        if pending:
            time.sleep(POLL_S)


def ready(s: Started) -> bool:
    """The runtime's readiness probe answers 200."""
    return _get(f"http://127.0.0.1:{s.port}{contract.READINESS_PATH}") == 200


def answers(s: Started) -> bool:
    """Any HTTP answer at all (the front: even a 401 proves it serves)."""
    return _get(f"http://127.0.0.1:{s.port}/") is not None


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - a loopback http URL built here
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def tail(path: Path, lines: int, *, start: int = 0) -> str:
    """The last ``lines`` lines of a text file from byte ``start`` on ('' when it cannot be read)."""
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def alive(pid: int | None) -> bool:
    """Whether ``pid`` is still a running process leading its own group (ours: started in a new
    session); a zombie (exited, not yet reaped: ``Z`` in ``/proc/<pid>/stat``) is not."""
    if pid is None:
        return False
    try:
        if os.getpgid(pid) != pid:
            return False
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): the pid exists
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def stop(pids: list[int], *, grace_s: float = STOP_GRACE_S) -> list[int]:
    """SIGTERM each live pid's process group, SIGKILL those still there after ``grace_s``.

    Returns:
        the pids that were killed with SIGKILL.
    """
    live = [p for p in pids if alive(p)]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_running(p) for p in live):
        time.sleep(0.05)
    killed = [p for p in live if _running(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return killed


def _running(pid: int) -> bool:
    """Not exited (a zombie child of ours is reaped here and counts as exited)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return alive(pid)
