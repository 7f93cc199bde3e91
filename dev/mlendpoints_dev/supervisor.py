"""Components run as recorded processes: spawn with a log file, wait with a deadline, stop by PID.

:class:`ProcessCluster` is the process half of :class:`~mlendpoints_dev.cluster.LocalCluster`
(which adds what the processes are). Every process is recorded in ``state.json`` (name, PID,
executable, log), so ``up`` in one process and ``down``/``status`` in another see the same set;
``_locked`` serialises start/stop across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlendpoints_dev.kubecluster import ClusterError, KubeCluster, Log
from mlendpoints_dev.procs import Proc, pdeathsig, pid_runs, tail


class ProcessCluster(KubeCluster):
    """A :class:`KubeCluster` whose components are processes this package starts and records."""

    def __init__(
        self,
        kubeconfig: Path,
        *,
        state_dir: Path,
        log: Log,
        die_with_parent: bool,
        kubectl: Path,
        helm: Path | None = None,
        binaries: Mapping[str, Path] | None = None,
    ) -> None:
        super().__init__(kubeconfig, kubectl=kubectl, helm=helm, binaries=binaries)
        self.state_dir = state_dir
        self._log = log
        self._die_with_parent = die_with_parent
        self._popen: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def state_file(self) -> Path:
        """``state.json``: ports, PIDs, paths (read by other processes)."""
        return self.state_dir / "state.json"

    def state(self) -> dict[str, Any]:
        """Contents of ``state.json`` ({} if the cluster was never started)."""
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def _save_state(self, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def _procs(self, state: Mapping[str, Any] | None = None) -> list[Proc]:
        st = self.state() if state is None else state
        return [Proc(**p) for p in st.get("processes", [])]

    def processes(self) -> dict[str, bool]:
        """Component name -> whether its recorded PID is alive and still runs our binary."""
        return {p.name: pid_runs(p.pid, p.exe) for p in self._procs()}

    def _spawn(
        self,
        state: dict[str, Any],
        name: str,
        exe: Path,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
    ) -> None:
        log_path = self.state_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {exe} {' '.join(args)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [str(exe), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.state_dir,
                env=dict(os.environ if env is None else env),
                preexec_fn=pdeathsig() if self._die_with_parent else None,
            )
        self._popen[proc.pid] = proc
        state.setdefault("processes", []).append(
            {"name": name, "pid": proc.pid, "exe": str(exe), "log": str(log_path)}
        )
        self._save_state(state)

    def _check_alive(self, state: Mapping[str, Any]) -> None:
        for p in self._procs(state):
            if not pid_runs(p.pid, p.exe):
                raise ClusterError(f"{p.name} exited during startup; see {p.log}:\n{tail(Path(p.log))}")

    def _wait(self, what: str, state: Mapping[str, Any], deadline: float, probe: Callable[[], bool]) -> None:
        while not probe():
            self._check_alive(state)
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out waiting for {what}; logs are in {self.state_dir / 'logs'}")
            time.sleep(0.25)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop of this cluster across processes (two `up`s must not race)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def logs(self, component: str, lines: int = 50) -> str:
        """Last ``lines`` lines of a component's log (``etcd``, ``kube-apiserver``, ``kwok``...)."""
        return tail(self.state_dir / "logs" / f"{component}.log", lines)
