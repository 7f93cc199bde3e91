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
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlendpoints_dev import processnodes, versions
from mlendpoints_dev.versions import Binaries

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from mlendpoints_dev.pki import PKI

#: Annotation kwok selects the nodes it plays by (``--manage-nodes-with-annotation-selector``).
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE = "kwok-gpu-0"
CPU_NODES = ("kwok-node-0", "kwok-node-1")
#: A /16 (65,534 Services): the operator benchmark creates thousands; the first address stays
#: 10.0.0.1, which the apiserver certificate names.
SERVICE_CIDR = "10.0.0.0/16"
POD_CIDR = "10.244.0.0/16"
FIELD_MANAGER = "mlendpoints-devcluster"

#: Write verbs recorded in the audit log. Tests count an actor's writes with it.
AUDIT_WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
#: read verbs, audited for ServiceAccounts only (see :func:`audit_policy`)
AUDIT_READ_VERBS = ("get", "list", "watch")

Log = Callable[[str], None]


class ClusterError(RuntimeError):
    """The control plane failed to start, or a command against it failed."""


class KubectlError(subprocess.CalledProcessError):
    """``kubectl`` exited non-zero; ``str()`` includes its stderr, unlike CalledProcessError."""

    def __str__(self) -> str:
        cmd = " ".join(str(a) for a in self.cmd)
        return f"{cmd!r} exited {self.returncode}: {(self.stderr or '').strip() or self.stdout}"


def _stderr_log(prefix: str) -> Log:
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{prefix} +{time.monotonic() - t0:5.1f}s] {msg}", file=sys.stderr, flush=True)

    return log


def node_manifests() -> list[dict[str, Any]]:
    """The fake nodes: two untainted CPU nodes and one tainted GPU node with 4 ``nvidia.com/gpu``.

    Status is set at creation (Nodes accept status on create) so the scheduler sees the GPU
    capacity at once; kwok's ``node-initialize`` stage keeps allocatable/capacity it finds.
    The GPU taint means only Pods that tolerate it, i.e. GPU workloads, land there.
    """

    def node(
        name: str, labels: dict[str, str], resources: dict[str, str], taints: list[dict[str, str]]
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                    **labels,
                },
            },
            "spec": {"taints": taints} if taints else {},
            "status": {"allocatable": resources, "capacity": resources},
        }

    cpu = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    gpu = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi", GPU_RESOURCE: "4"}
    nodes = [node(n, {"node.kubernetes.io/instance-type": "kwok-cpu"}, cpu, []) for n in CPU_NODES]
    nodes.append(
        node(
            GPU_NODE,
            {
                "node.kubernetes.io/instance-type": "kwok-gpu",
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.count": "4",
                "nvidia.com/gpu.product": "kwok-fake-gpu",
            },
            gpu,
            [{"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}],
        )
    )
    return nodes


def audit_policy() -> dict[str, Any]:
    """Metadata-level events for every write verb on every resource, and for reads by ServiceAccounts.

    ``RequestReceived`` is omitted so each request yields exactly one event (at
    ``ResponseComplete``), which is what makes counting writes meaningful. Reads are logged only
    for ServiceAccounts outside kube-system (an operator run with a chart's token), so a test can
    show where such an identity read; the controllers' own reads (kube-system) stay out.
    """
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {
                "level": "None",
                "verbs": list(AUDIT_READ_VERBS),
                "userGroups": ["system:serviceaccounts:kube-system"],
            },
            {"level": "Metadata", "verbs": list(AUDIT_WRITE_VERBS)},
            {"level": "Metadata", "verbs": list(AUDIT_READ_VERBS), "userGroups": ["system:serviceaccounts"]},
            {"level": "None"},
        ],
    }


def write_kubeconfig(
    path: Path, *, server: str, ca_cert: Path, cert: Path, key: Path, cluster: str, user: str
) -> Path:
    """Write a self-contained kubeconfig (credentials embedded as ``*-data``) with mode 0600.

    JSON is valid YAML, so no YAML library is needed; kubectl, client-go, helm and the Python
    client all read it.
    """

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    context = f"{cluster}-{user}" if user != "admin" else cluster
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca_cert)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


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


def _proc_cmdline(pid: int) -> list[str] | None:
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
    argv = _proc_cmdline(pid)
    return bool(argv) and argv is not None and argv[0] == exe


def _pdeathsig() -> Callable[[], None]:
    """A preexec_fn asking Linux to SIGTERM the child when its parent dies (pytest killed hard)."""
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return preexec


class KubeCluster:
    """Any cluster reached through a kubeconfig, plus the kubectl and helm binaries to drive it.

    This is the interface tests and tools code against; :class:`LocalCluster` adds the
    lifecycle of a local control plane. For an existing cluster (e.g. kind), build one directly:
    ``KubeCluster(Path("~/.kube/config").expanduser(), kubectl=..., helm=...)``.
    """

    #: None: this cluster has no audit log we can read (not ours).
    audit_log: Path | None = None

    def __init__(
        self,
        kubeconfig: Path,
        *,
        kubectl: Path,
        helm: Path | None = None,
        binaries: Mapping[str, Path] | None = None,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self._bins: dict[str, Path] = dict(binaries or {})
        self._bins["kubectl"] = Path(kubectl)
        if helm is not None:
            self._bins["helm"] = Path(helm)

    @property
    def is_local(self) -> bool:
        """True for a control plane we run (audit log, ``/version`` and PKI are ours)."""
        return False

    @property
    def helm(self) -> Path:
        """Path of the helm binary."""
        return self.bin("helm")

    def bin(self, name: str) -> Path:
        """Path of a binary by name: ``kubectl``, ``helm``; for a local cluster also ``etcd``, ``kwok``..."""
        try:
            return self._bins[name]
        except KeyError:
            raise KeyError(f"no binary {name!r}; known: {sorted(self._bins)}") from None

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for subprocesses: ``KUBECONFIG`` set, kubectl's and helm's directories on PATH."""
        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = str(self.kubeconfig)
        dirs: list[str] = []
        for name in ("kubectl", "helm"):
            if name in self._bins and str(self._bins[name].parent) not in dirs:
                dirs.append(str(self._bins[name].parent))
        env["PATH"] = os.pathsep.join([*dirs, env.get("PATH", "")])
        return env

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float | None = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl --kubeconfig=<ours> <args>``; text output captured.

        With ``check`` (the default) a non-zero exit raises :class:`KubectlError`, whose message
        carries kubectl's stderr.
        """
        cmd = [str(self.bin("kubectl")), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self.env(), check=False
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def kubectl_json(self, *args: str, timeout: float | None = 120) -> Any:
        """``kubectl <args> -o json``, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def apply(self, manifest: Mapping[str, Any] | Sequence[Mapping[str, Any]] | str, *args: str) -> str:
        """Server-side apply a manifest (dict, list of dicts, or YAML/JSON text); returns kubectl's output."""
        if isinstance(manifest, str):
            text = manifest
        elif isinstance(manifest, Mapping):
            text = json.dumps(manifest)
        else:
            text = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifest)})
        return self.kubectl(
            "apply",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "--force-conflicts",
            "-f",
            "-",
            *args,
            input=text,
        ).stdout

    def api_client(self) -> ApiClient:
        """A fresh ``kubernetes.client.ApiClient`` for this cluster (needs the ``operator`` extra)."""
        from kubernetes import config

        client: ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        return client

    def audit_mark(self) -> int:
        """Current end of the audit log; pass it to :meth:`audit_events` to see only later writes."""
        if self.audit_log is None:
            raise ClusterError("this cluster has no audit log we can read (external cluster)")
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def audit_events(
        self, since: int = 0, *, user: str | None = None, verbs: Iterable[str] = AUDIT_WRITE_VERBS
    ) -> list[dict[str, Any]]:
        """Audit events (parsed JSON lines) written after byte offset ``since``, optionally for one user.

        Only write verbs are logged (see :func:`audit_policy`). The apiserver writes each event
        before the request's response completes, so a write the caller has seen return is here.
        """
        if self.audit_log is None:
            raise ClusterError("this cluster has no audit log we can read (external cluster)")
        wanted = set(verbs)
        events = []
        with self.audit_log.open("rb") as fh:
            fh.seek(since)
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # an event still being written
                ev = json.loads(line)
                if ev.get("verb") not in wanted:
                    continue
                if user is not None and ev.get("user", {}).get("username") != user:
                    continue
                events.append(ev)
        return events

    def wait_for_default_serviceaccount(self, namespace: str, timeout: float = 60) -> None:
        """Block until kube-controller-manager has made ``default`` in ``namespace`` (Pods need it)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.kubectl("get", "serviceaccount", "default", "-n", namespace, "-o", "name", check=False)
            if got.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"ServiceAccount default/{namespace} did not appear within {timeout:.0f}s")
            time.sleep(0.2)


@dataclass
class _Proc:
    name: str
    pid: int
    exe: str
    log: str


class LocalCluster(KubeCluster):
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
        self.state_dir = Path(state_dir) if state_dir is not None else versions.clusters_dir() / name
        self._custom_binaries = binaries is not None
        self._binaries = binaries if binaries is not None else versions.binary_paths()
        self._log = log if log is not None else _stderr_log(f"devcluster {name}")
        self._die_with_parent = die_with_parent
        self._popen: dict[int, subprocess.Popen[bytes]] = {}
        super().__init__(
            self.state_dir / "admin.kubeconfig",
            kubectl=self._binaries.kubectl,
            helm=self._binaries.helm,
            binaries=self._binaries.all(),
        )
        self.audit_log = self.state_dir / "audit.log"

    # ------------------------------------------------------------------ state
    @property
    def is_local(self) -> bool:
        return True

    @property
    def state_file(self) -> Path:
        """``state.json``: ports, PIDs, paths (read by other processes)."""
        return self.state_dir / "state.json"

    @property
    def binaries(self) -> Binaries:
        """The cached binaries this cluster runs."""
        return self._binaries

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

    def _procs(self, state: Mapping[str, Any] | None = None) -> list[_Proc]:
        st = self.state() if state is None else state
        return [_Proc(**p) for p in st.get("processes", [])]

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

    def processes(self) -> dict[str, bool]:
        """Component name -> whether its recorded PID is alive and still runs our binary."""
        return {p.name: pid_runs(p.pid, p.exe) for p in self._procs()}

    def is_running(self) -> bool:
        """True if every recorded process is alive and the apiserver answers ``/readyz`` with 200."""
        procs = self.processes()
        if not procs or not all(procs.values()):
            return False
        return self._readyz(self.server)

    # ---------------------------------------------------------------- helpers
    def _ssl_context(self) -> ssl.SSLContext:
        pki = self.pki
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        admin = pki.client("admin")
        ctx.load_cert_chain(str(admin.cert), str(admin.key))
        return ctx

    def _readyz(self, server: str | None, timeout: float = 3) -> bool:
        if not server:
            return False
        try:
            url = f"{server}/readyz"
            with urllib.request.urlopen(url, context=self._ssl_context(), timeout=timeout) as r:  # noqa: S310
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

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
                preexec_fn=_pdeathsig() if self._die_with_parent else None,
            )
        self._popen[proc.pid] = proc
        state.setdefault("processes", []).append(
            {"name": name, "pid": proc.pid, "exe": str(exe), "log": str(log_path)}
        )
        self._save_state(state)

    def _check_alive(self, state: Mapping[str, Any]) -> None:
        for p in self._procs(state):
            if not pid_runs(p.pid, p.exe):
                raise ClusterError(f"{p.name} exited during startup; see {p.log}:\n{_tail(Path(p.log))}")

    def _wait(self, what: str, state: Mapping[str, Any], deadline: float, probe: Callable[[], bool]) -> None:
        while not probe():
            self._check_alive(state)
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out waiting for {what}; logs are in {self.state_dir / 'logs'}")
            time.sleep(0.25)

    # -------------------------------------------------------------- lifecycle
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
        t0 = time.monotonic()
        deadline = t0 + timeout
        b = self._binaries
        previous = self.state().get("ports", {})
        previous_addons = self.state().get("addons") or {}
        self.state_dir.mkdir(parents=True, exist_ok=True)
        pki = self.pki
        ports = {
            k: free_port(previous.get(k))
            for k in ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler")
        }
        if len(set(ports.values())) != len(ports):  # a preferred port collided with a fresh one
            ports = {k: free_port() for k in ports}
        server = f"https://127.0.0.1:{ports['apiserver']}"
        state: dict[str, Any] = {
            "name": self.name,
            "state_dir": str(self.state_dir),
            "server": server,
            "ports": ports,
            "kubeconfig": str(self.kubeconfig),
            "audit_log": str(self.audit_log),
            "versions": {
                "kubernetes": versions.KUBERNETES,
                "etcd": versions.ETCD,
                "kwok": versions.KWOK,
                "helm": versions.HELM,
                "gateway_api": versions.GATEWAY_API,
            },
            "binaries": {k: str(v) for k, v in b.all().items()},
            "processes": [],
            "started_at": time.time(),
        }
        self._save_state(state)

        kubeconfigs = {}
        for client in ("admin", "kube-controller-manager", "kube-scheduler", "kwok"):
            cc = pki.client(client)
            path = self.kubeconfig if client == "admin" else self.state_dir / f"{client}.kubeconfig"
            kubeconfigs[client] = write_kubeconfig(
                path, server=server, ca_cert=pki.ca_cert, cert=cc.cert, key=cc.key,
                cluster=f"mlendpoints-{self.name}", user=client,
            )  # fmt: skip
        policy = self.state_dir / "audit-policy.json"
        policy.write_text(json.dumps(audit_policy(), indent=2) + "\n")

        # 1. etcd: fsync off (test data is disposable), every URL on loopback and on our ports.
        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
        self._log(f"starting etcd {versions.ETCD} on {etcd_url}")
        self._spawn(
            state,
            "etcd",
            b.etcd,
            [
                "--name=default",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",
                f"--quota-backend-bytes={2 * 1024**3}",
                "--log-level=warn",
            ],
        )
        self._wait("etcd /health", state, deadline, lambda: _http_ok(f"{etcd_url}/health"))

        # 2. kube-apiserver, with RBAC, ServiceAccount tokens and an audit log of every write.
        # Pods on process nodes reach it at their node's address (the agent forwards it there):
        # the certificate names those addresses and the `kubernetes` Service advertises the first.
        node_ips = processnodes.prepare_network(self, self.process_nodes) if self.process_nodes else []
        from mlendpoints_dev.pki import ensure_apiserver_ips

        if node_ips and ensure_apiserver_ips(pki, node_ips):
            self._log(f"API server certificate now also names {', '.join(node_ips)}")
        self._log(f"starting kube-apiserver {versions.KUBERNETES} on {server}")
        self._spawn(
            state,
            "kube-apiserver",
            b.kube_apiserver,
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                f"--advertise-address={node_ips[0] if node_ips else '127.0.0.1'}",
                f"--secure-port={ports['apiserver']}",
                f"--tls-cert-file={pki.apiserver_cert}",
                f"--tls-private-key-file={pki.apiserver_key}",
                f"--client-ca-file={pki.ca_cert}",
                # Aggregation layer: lets aggregated APIs (and kcm/scheduler's delegated authn) trust
                # the apiserver's front-proxy identity; without it they log missing-CA errors.
                f"--requestheader-client-ca-file={pki.ca_cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki.client('front-proxy-client').cert}",
                f"--proxy-client-key-file={pki.client('front-proxy-client').key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Without process nodes the `kubernetes` Service could only point at 127.0.0.1
                # (Endpoints reject loopback IPs) and no pod runs to use it: no endpoints then.
                f"--endpoint-reconciler-type={'lease' if node_ips else 'none'}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                f"--cert-dir={self.state_dir / 'apiserver-certs'}",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-maxsize=200",
                "--audit-log-maxbackup=1",
                "--profiling=false",
                *processnodes.apiserver_flags(self),
            ],
        )
        self._wait("kube-apiserver /readyz", state, deadline, lambda: self._readyz(server, timeout=2))
        self._log("kube-apiserver is ready")

        # 3. kube-controller-manager, kube-scheduler and kwok, together.
        def auth(kc: Path) -> list[str]:
            return [
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
            ]

        self._log("starting kube-controller-manager, kube-scheduler and kwok")
        self._spawn(
            state,
            "kube-controller-manager",
            b.kube_controller_manager,
            [
                *auth(kubeconfigs["kube-controller-manager"]),
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['controller_manager']}",
                f"--cert-dir={self.state_dir / 'kcm-certs'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--controllers=*",
                "--profiling=false",
            ],
        )
        self._spawn(
            state,
            "kube-scheduler",
            b.kube_scheduler,
            [
                *auth(kubeconfigs["kube-scheduler"]),
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['scheduler']}",
                f"--cert-dir={self.state_dir / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        kwok_dir = self.state_dir / "kwok"
        kwok_dir.mkdir(exist_ok=True)
        self._spawn(
            state,
            "kwok",
            b.kwok,
            [
                f"--kubeconfig={kubeconfigs['kwok']}",
                f"--config={b.kwok_stages}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                f"--cidr={POD_CIDR}",
                "--node-ip=10.243.0.1",
            ],
            # KWOK_WORKDIR: keep a user's ~/.kwok/kwok.yaml from being merged into our config.
            env={**os.environ, "KWOK_WORKDIR": str(kwok_dir)},
        )

        if self.process_nodes:
            exe, args = processnodes.agent_args(
                self, self.process_nodes, server, taint=self.process_node_taint
            )
            self._log(f"starting the node agent for {self.process_nodes} process nodes")
            self._spawn(state, "nodeagent", exe, args)

        # 4. Fake nodes, then wait for what makes the cluster usable: Ready nodes, default SA.
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
        if self._addons:  # their own budget: Azurite alone takes ~45 s to listen on a loaded 2-core box
            self._start_addons(state, max(deadline, time.monotonic() + 180), previous_addons)
        self._check_alive(state)
        state["ready_seconds"] = round(time.monotonic() - t0, 1)
        self._save_state(state)
        self._log(f"cluster {self.name!r} ready in {state['ready_seconds']}s; KUBECONFIG={self.kubeconfig}")

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
            popen = self._popen.pop(p.pid, None)
            if not pid_runs(p.pid, p.exe):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while pid_runs(p.pid, p.exe):
                if time.monotonic() > deadline:
                    self._log(f"{p.name} (pid {p.pid}) ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, signal.SIGKILL)
                    deadline = time.monotonic() + grace
                if popen is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        popen.wait(timeout=0.05)
                else:
                    time.sleep(0.05)
            if popen is not None:  # reap it (we are its parent)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(timeout=5)
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

    def logs(self, component: str, lines: int = 50) -> str:
        """Last ``lines`` lines of a component's log (``etcd``, ``kube-apiserver``, ``kwok``...)."""
        return _tail(self.state_dir / "logs" / f"{component}.log", lines)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback http only
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except OSError:
        return f"({path} missing)"
    return "\n".join(data.splitlines()[-lines:])
