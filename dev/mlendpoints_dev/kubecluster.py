"""Any Kubernetes cluster reached through a kubeconfig, driven with kubectl and helm.

:class:`KubeCluster` is the interface tests and tools code against (an external cluster such as
kind, or the local control plane of :mod:`mlendpoints_dev.cluster`, which subclasses it and
re-exports every name here).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

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
