"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, run as plain processes from the cached binaries.

Why not envtest (apiserver only): without kube-controller-manager namespaces never finish
deleting, ownerReferences are never garbage-collected and Deployments never get Pods; without a
scheduler and kwok, Pods never bind or turn Running. The operator's tests need all of that.
kwok plays every node's kubelet: Pods on its fake nodes become Running/Ready (and Job pods
Succeeded) without running any container.

Lifecycle rules (shared with other engineers' processes on small machines):

* every port is a free loopback port picked with ``bind(('127.0.0.1', 0))``, so any number of
  clusters (the dev one, a pytest session, a colleague's session) coexist;
* processes start in their own session, log to files in the state directory, and their PIDs are
  recorded in ``state.json``; they are stopped by PID (SIGTERM, then SIGKILL), never by name,
  and only after checking that the PID still runs the binary we started;
* ``state.json`` lets ``up`` in one process and ``down``/``env``/``status`` in another work.

The pieces live in small modules, re-exported here so ``from mlendpoints_dev.cluster import …``
keeps working: :mod:`~mlendpoints_dev.kubecluster` (any cluster via kubectl/helm),
:mod:`~mlendpoints_dev.controlplane` (nodes, audit policy, kubeconfigs, each component's flags)
and :mod:`~mlendpoints_dev.procs` (ports, PIDs, log tails).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlendpoints_dev import controlplane, processnodes, versions
from mlendpoints_dev.controlplane import (
    CPU_NODES,
    GPU_NODE,
    GPU_RESOURCE,
    KWOK_NODE_ANNOTATION,
    node_manifests,
    write_kubeconfig,
)
from mlendpoints_dev.kubecluster import (
    AUDIT_READ_VERBS,
    FIELD_MANAGER,
    ClusterError,
    KubeCluster,
    KubectlError,
    Log,
)
from mlendpoints_dev.procs import free_port, http_ok, https_ok, pid_runs, stderr_log, terminate
from mlendpoints_dev.supervisor import ProcessCluster
from mlendpoints_dev.versions import Binaries

if TYPE_CHECKING:
    from mlendpoints_dev.pki import PKI

#: Ports a start picks (the previous run's when still free, so kubeconfigs stay valid).
PORTS = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler")


class LocalCluster(ProcessCluster):
    """A local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok).

    ``LocalCluster("dev").start()`` builds missing binaries, starts everything, creates the fake
    nodes and returns once Pods can be scheduled; ``stop()`` ends the processes. State lives in
    ``state_dir`` (default ``~/.cache/mlendpoints/clusters/<name>``), so another process can
    construct ``LocalCluster(name)`` and ``stop()`` it, or read ``kubeconfig``.
    """

    def __init__(
        self,
        name: str = "dev",
        *,
        state_dir: Path | None = None,
        binaries: Binaries | None = None,
        log: Log | None = None,
        die_with_parent: bool = False,
        process_nodes: int | None = None,
        process_node_taint: bool = True,
        addons: bool = False,
    ) -> None:
        self.name = name
        #: Nodes whose pods run as local processes (docs/devcluster.md, "Process nodes").
        self.process_nodes = processnodes.default_count() if process_nodes is None else process_nodes
        self.process_node_taint = process_node_taint
        self._addons = addons
        state_dir = Path(state_dir) if state_dir is not None else versions.clusters_dir() / name
        self._custom_binaries = binaries is not None
        self._binaries = binaries if binaries is not None else versions.binary_paths()
        super().__init__(
            state_dir / "admin.kubeconfig",
            state_dir=state_dir,
            log=log if log is not None else stderr_log(f"devcluster {name}"),
            die_with_parent=die_with_parent,
            kubectl=self._binaries.kubectl,
            helm=self._binaries.helm,
            binaries=self._binaries.all(),
        )
        #: Every write (and ServiceAccounts' reads) as JSON lines, see :func:`audit_policy`.
        self.audit_log: Path = self.state_dir / "audit.log"

    # ------------------------------------------------------------------ state
    @property
    def is_local(self) -> bool:
        return True

    @property
    def binaries(self) -> Binaries:
        """The cached binaries this cluster runs."""
        return self._binaries

    @property
    def server(self) -> str | None:
        """``https://127.0.0.1:<port>`` of the apiserver, or None if never started."""
        server: str | None = self.state().get("server")
        return server

    @property
    def pki(self) -> PKI:
        """The cluster's credentials (created on first start)."""
        from mlendpoints_dev.pki import ensure_pki

        return ensure_pki(self.state_dir / "pki")

    def is_running(self) -> bool:
        """True if every recorded process is alive and the apiserver answers ``/readyz`` with 200."""
        procs = self.processes()
        if not procs or not all(procs.values()):
            return False
        return self._readyz(self.server)

    def _readyz(self, server: str | None, timeout: float = 3) -> bool:
        return bool(server) and https_ok(f"{server}/readyz", self.pki, timeout=timeout)

    # -------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 180) -> LocalCluster:
        """Start the control plane (a no-op if it is already running and healthy); returns self.

        Builds missing binaries first (that part is not counted in ``timeout``). On failure
        every process started so far is stopped and the error carries the failing log's tail.
        """
        missing = self._binaries.missing()
        if missing and self._custom_binaries:
            raise ClusterError(f"binaries missing: {', '.join(missing)}")
        if missing:
            from mlendpoints_dev.build import ensure_binaries

            ensure_binaries()
        with self._locked():
            if self.is_running():
                self._log(f"cluster {self.name!r} is already running at {self.server}")
                if self._addons and not self.state().get("addons"):
                    self._start_addons(self.state(), time.monotonic() + timeout, {})
                return self
            if self.state().get("processes"):
                self._log("stopping leftovers of a previous run")
                self._stop_processes()
            try:
                self._start(timeout)
            except BaseException:
                self._stop_processes()
                raise
        return self

    def _start(self, timeout: float) -> None:
        """Start every component in dependency order and wait until Pods can be scheduled.

        Phases: state and credentials, etcd, kube-apiserver, the controllers (kube-controller-manager,
        kube-scheduler, kwok, node agent), nodes, then the add-ons. Raises :class:`ClusterError`
        (carrying the failing component's log tail) when one exits or ``timeout`` seconds pass.
        """
        t0 = time.monotonic()
        deadline = t0 + timeout
        previous_addons = self.state().get("addons") or {}
        pki = self.pki
        state = self._new_state()
        kubeconfigs = controlplane.write_client_files(
            pki,
            self.state_dir,
            admin=self.kubeconfig,
            server=state["server"],
            cluster=f"mlendpoints-{self.name}",
        )
        etcd_url = self._start_etcd(state, deadline)
        self._start_apiserver(state, deadline, pki, etcd_url)
        self._start_controllers(state, pki, kubeconfigs)
        self._wait_usable(state, deadline)
        if self._addons:  # their own budget: Azurite alone takes ~45 s to listen on a loaded 2-core box
            self._start_addons(state, max(deadline, time.monotonic() + 180), previous_addons)
        self._check_alive(state)
        state["ready_seconds"] = round(time.monotonic() - t0, 1)
        self._save_state(state)
        self._log(f"cluster {self.name!r} ready in {state['ready_seconds']}s; KUBECONFIG={self.kubeconfig}")

    def _new_state(self) -> dict[str, Any]:
        """Pick the ports (the previous run's where still free) and record a fresh ``state.json``."""
        previous = self.state().get("ports", {})
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ports = {k: free_port(previous.get(k)) for k in PORTS}
        if len(set(ports.values())) != len(ports):  # a preferred port collided with a fresh one
            ports = {k: free_port() for k in ports}
        state = controlplane.state_record(
            self.name,
            state_dir=self.state_dir,
            ports=ports,
            kubeconfig=self.kubeconfig,
            audit_log=self.audit_log,
            binaries=self._binaries.all(),
        )
        self._save_state(state)
        return state

    def _start_etcd(self, state: dict[str, Any], deadline: float) -> str:
        """Start etcd and wait for its ``/health``; returns its client URL."""
        ports = state["ports"]
        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        self._log(f"starting etcd {versions.ETCD} on {etcd_url}")
        args = controlplane.etcd_args(
            self.state_dir / "etcd", client_port=ports["etcd"], peer_port=ports["etcd_peer"]
        )
        self._spawn(state, "etcd", self._binaries.etcd, args)
        self._wait("etcd /health", state, deadline, lambda: http_ok(f"{etcd_url}/health"))
        return etcd_url

    def _start_apiserver(self, state: dict[str, Any], deadline: float, pki: PKI, etcd_url: str) -> None:
        """Start kube-apiserver and wait for its ``/readyz``.

        Pods on process nodes reach it at their node's address (the agent forwards it there):
        the certificate names those addresses and the `kubernetes` Service advertises the first.
        """
        node_ips = processnodes.prepare_network(self, self.process_nodes) if self.process_nodes else []
        from mlendpoints_dev.pki import ensure_apiserver_ips

        if node_ips and ensure_apiserver_ips(pki, node_ips):
            self._log(f"API server certificate now also names {', '.join(node_ips)}")
        server = state["server"]
        self._log(f"starting kube-apiserver {versions.KUBERNETES} on {server}")
        args = controlplane.apiserver_args(
            pki,
            etcd_url=etcd_url,
            port=state["ports"]["apiserver"],
            state_dir=self.state_dir,
            audit_log=self.audit_log,
            node_ips=node_ips,
            extra=processnodes.apiserver_flags(self),
        )
        self._spawn(state, "kube-apiserver", self._binaries.kube_apiserver, args)
        self._wait("kube-apiserver /readyz", state, deadline, lambda: self._readyz(server, timeout=2))
        self._log("kube-apiserver is ready")

    def _start_controllers(self, state: dict[str, Any], pki: PKI, kubeconfigs: Mapping[str, Path]) -> None:
        """Start kube-controller-manager, kube-scheduler, kwok and (with process nodes) the node agent."""
        b, ports = self._binaries, state["ports"]
        self._log("starting kube-controller-manager, kube-scheduler and kwok")
        kcm = controlplane.controller_manager_args(
            pki,
            kubeconfig=kubeconfigs["kube-controller-manager"],
            port=ports["controller_manager"],
            state_dir=self.state_dir,
        )
        self._spawn(state, "kube-controller-manager", b.kube_controller_manager, kcm)
        scheduler = controlplane.scheduler_args(
            kubeconfig=kubeconfigs["kube-scheduler"], port=ports["scheduler"], state_dir=self.state_dir
        )
        self._spawn(state, "kube-scheduler", b.kube_scheduler, scheduler)
        kwok_dir = self.state_dir / "kwok"
        kwok_dir.mkdir(exist_ok=True)
        kwok = controlplane.kwok_args(kubeconfig=kubeconfigs["kwok"], stages=b.kwok_stages)
        # KWOK_WORKDIR: keep a user's ~/.kwok/kwok.yaml from being merged into our config.
        self._spawn(state, "kwok", b.kwok, kwok, env={**os.environ, "KWOK_WORKDIR": str(kwok_dir)})
        if self.process_nodes:
            exe, args = processnodes.agent_args(
                self, self.process_nodes, state["server"], taint=self.process_node_taint
            )
            self._log(f"starting the node agent for {self.process_nodes} process nodes")
            self._spawn(state, "nodeagent", exe, args)

    def _wait_usable(self, state: dict[str, Any], deadline: float) -> None:
        """Create the fake nodes, then wait for what makes the cluster usable: Ready nodes, default SA."""
        self._log(f"creating nodes {', '.join([*CPU_NODES, GPU_NODE])}")
        self.apply(node_manifests())

        def nodes_ready() -> bool:
            wait = max(1, min(5, int(deadline - time.monotonic())))
            ready = self.kubectl(
                "wait", "--for=condition=Ready", "node", "-l", "type=kwok", f"--timeout={wait}s", check=False
            )
            return ready.returncode == 0

        def default_sa() -> bool:
            return (
                self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0
            )

        self._wait("nodes Ready", state, deadline, nodes_ready)
        if self.process_nodes:
            sel = processnodes.NODE_SELECTOR
            self._wait("process nodes Ready", state, deadline, lambda: processnodes.nodes_ready(self, sel))
        self._wait("ServiceAccount default/default", state, deadline, default_sa)

    def _start_addons(self, state: dict[str, Any], deadline: float, previous: Mapping[str, Any]) -> None:
        """Traefik, Azurite and the file server (see :mod:`mlendpoints_dev.addons`)."""
        from mlendpoints_dev import addons

        def wait(what: str, probe: Callable[[], bool]) -> None:
            self._wait(what, state, deadline, probe)

        state["addons"] = addons.start(self, state, wait, previous)
        self._save_state(state)

    def _stop_processes(self, grace: float = 10) -> None:
        # Reverse start order, one at a time: clients first, then the apiserver, etcd last. If etcd
        # went down together with the apiserver, the apiserver's graceful shutdown would hang on it.
        for p in reversed(self._procs()):
            terminate(p, self._popen.pop(p.pid, None), grace=grace, log=self._log)
        for what in processnodes.sweep(self):
            self._log(f"removed leftover {what}")
        st = self.state()
        if st:
            st["processes"] = []
            st.pop("ready_seconds", None)
            self._save_state(st)

    def stop(self, *, delete: bool = False) -> None:
        """Stop every recorded process by PID (SIGTERM, SIGKILL after 10 s); ``delete`` removes the state."""
        if not self.state_dir.exists():
            return
        with self._locked():
            if self.state().get("processes"):
                self._log(f"stopping cluster {self.name!r}")
            self._stop_processes()
            if delete:
                from mlendpoints_dev import addons

                addons.cleanup(self)
                shutil.rmtree(self.state_dir)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def make_kubeconfig(
        self, user: str, groups: Sequence[str] = ("system:masters",), path: Path | None = None
    ) -> Path:
        """A kubeconfig for a new client-cert identity (``user`` in ``groups``) signed by the cluster CA.

        Give the operator its own user this way and count its writes with
        ``audit_events(since, user=user)``. With ``groups=()`` the user has no RBAC rights at all.
        """
        from mlendpoints_dev.pki import issue_client

        server = self.server
        if not server:
            raise ClusterError("cluster was never started")
        stem = "user-" + "".join(c if c.isalnum() else "-" for c in user)
        cc = issue_client(self.pki, stem, user, groups)
        out = path if path is not None else self.state_dir / f"{stem}.kubeconfig"
        return write_kubeconfig(
            out,
            server=server,
            ca_cert=self.pki.ca_cert,
            cert=cc.cert,
            key=cc.key,
            cluster=f"mlendpoints-{self.name}",
            user=user,
        )


__all__ = [
    "AUDIT_READ_VERBS",
    "CPU_NODES",
    "FIELD_MANAGER",
    "GPU_NODE",
    "GPU_RESOURCE",
    "KWOK_NODE_ANNOTATION",
    "ClusterError",
    "KubeCluster",
    "KubectlError",
    "LocalCluster",
    "free_port",
    "node_manifests",
    "pid_runs",
]
