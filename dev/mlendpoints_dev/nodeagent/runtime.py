"""The node-side resources of one pod: sandbox (netns + IP), volumes, launch specs, API writes.

:class:`PodRuntime` is what :class:`~mlendpoints_dev.nodeagent.pods.PodWorker` drives;
it knows the node (IP allocator, network, API client) but no lifecycle rules.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlendpoints_dev.nodeagent import apiproxy, network
from mlendpoints_dev.nodeagent.containers import (
    ContainerRun,
    ImageProfile,
    command_line,
    image_profile,
    now_iso,
)
from mlendpoints_dev.nodeagent.fields import container_env
from mlendpoints_dev.nodeagent.kube import ApiError, Kube, Obj
from mlendpoints_dev.nodeagent.volumes import Lookup, PodVolumes, VolumeError

log = logging.getLogger("nodeagent")


class IPAllocator:
    """Host numbers 2..254 of each node's /24; .1 is the host's gateway address.

    Round-robin from the last address handed out, as the CNI ``host-local`` IPAM plugin does
    (it keeps ``last_reserved_ip`` and starts its search after it): a freed address is reused only
    after the rest of the range has been, so a gateway that still holds a pooled connection to a
    deleted pod never reaches a new pod that took its address -- on reuse, a POST written into
    that stale connection is reset by the new pod's kernel and the gateway answers 502.
    """

    FIRST, LAST = 2, 254

    def __init__(self) -> None:
        self._used: dict[int, set[int]] = {}
        self._last: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self, node: int) -> int:
        """A free host number on ``node``; raises :class:`network.NetworkError` when all are used."""
        with self._lock:
            used = self._used.setdefault(node, set())
            size = self.LAST - self.FIRST + 1
            start = self._last.get(node, self.LAST) - self.FIRST + 1
            for step in range(size):
                host = self.FIRST + (start + step) % size
                if host not in used:
                    used.add(host)
                    self._last[node] = host
                    return host
        raise network.NetworkError(f"node {node}: no free pod IP (253 pods)")

    def give(self, node: int, host: int) -> None:
        with self._lock:
            self._used.get(node, set()).discard(host)


@dataclass
class NodeEnv:
    """What every pod on the agent's nodes shares."""

    kube: Kube
    net: network.ClusterNet
    nodes: dict[str, int]  # node name -> index
    pods_dir: Path
    lookup: Lookup
    token: Callable[[Obj, Obj], str]  # (pod, serviceAccountToken projection) -> token
    apiserver_port: int = 0  # where the agent forwards the API server on each node address (0: nowhere)
    ips: IPAllocator = field(default_factory=IPAllocator)
    extra_images: dict[str, ImageProfile] = field(default_factory=dict)


def python_paths() -> list[str]:
    """Host paths a container of the project's images must reach: the virtualenv, the base
    Python's prefix and its interpreter (real paths). The launcher exposes them to a non-root
    user even under a directory that user may not search (see ``RootBuilder.expose``)."""
    paths = [sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)]
    return list(dict.fromkeys(os.path.realpath(p) for p in paths))


def environment_paths() -> list[str]:
    """Host paths a container of the project's images runs from: :func:`python_paths` and the
    source folder of the (editable) ``mlendpoints`` install. A volume mounted above one of them
    must not hide it (see ``RootBuilder.bind``)."""
    import mlendpoints

    source = os.path.dirname(os.path.dirname(os.path.realpath(mlendpoints.__file__)))
    return list(dict.fromkeys([*python_paths(), source]))


def usable(path: str, uid: int, gids: set[int]) -> bool:
    """Whether ``uid``/``gids`` may read and execute (search) ``path`` itself, by its mode bits.

    The directories above it do not matter: the launcher exposes them.
    """
    st = Path(path).stat()
    shift = 6 if st.st_uid == uid else 3 if st.st_gid in gids else 0
    need = stat.S_IROTH | stat.S_IXOTH
    return (st.st_mode >> shift) & need == need


class PodRuntime:
    def __init__(self, pod: Obj, env: NodeEnv) -> None:
        self.pod = pod
        self.env = env
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.node = env.nodes[pod["spec"]["nodeName"]]
        self.pod_dir = env.pods_dir / f"{meta['namespace']}_{meta['name']}_{self.uid}"
        self.pod_dir.mkdir(parents=True, exist_ok=True)
        self.host_ip = env.net.gateway(self.node)
        self.pod_ip = ""
        self._host: int | None = None
        self.start_time = now_iso()
        self.volumes = PodVolumes(pod, self.pod_dir / "volumes", env.lookup, lambda p: env.token(self.pod, p))
        self.extra_images = env.extra_images
        self._last_refresh = 0.0
        self.security_note = ""

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.pod['metadata']['namespace']}/pods/{self.pod['metadata']['name']}"

    # ------------------------------------------------------------------ sandbox
    def create_sandbox(self) -> None:
        self._host = self.env.ips.take(self.node)
        base = self.env.net.node_cidr(self.node).rsplit(".", 1)[0]
        self.pod_ip = f"{base}.{self._host}"
        network.create_pod_netns(self.env.net, self.uid, self.pod_ip, self.node)
        # fieldRefs (status.podIP, status.hostIP) resolve from this before the status patch lands.
        status = self.pod.setdefault("status", {})
        status.update(podIP=self.pod_ip, podIPs=[{"ip": self.pod_ip}], hostIP=self.host_ip)
        status["hostIPs"] = [{"ip": self.host_ip}]

    def setup_volumes(self) -> None:
        self.volumes.setup()

    def refresh_volumes(self) -> None:
        now = time.monotonic()
        if now - self._last_refresh >= 1.0:
            self._last_refresh = now
            self.volumes.refresh()

    def teardown(self) -> None:
        network.delete_pod_netns(self.env.net, self.uid)
        if self._host is not None:
            self.env.ips.give(self.node, self._host)
            self._host = None
        shutil.rmtree(self.pod_dir, ignore_errors=True)

    # ------------------------------------------------------------------ containers
    def _identity(self, c: Obj, profile: ImageProfile) -> tuple[int | None, int | None, list[int]]:
        psc = self.pod["spec"].get("securityContext") or {}
        csc = c.get("securityContext") or {}
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup"))
        if uid is None and (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            uid = 1000  # the project images' USER 1000:1000
            gid = 1000 if gid is None else gid
        if uid is None:
            return None, None, []
        gid = int(gid if gid is not None else uid)
        groups = [int(g) for g in psc.get("supplementalGroups") or []]
        if psc.get("fsGroup") is not None:
            groups.append(int(psc["fsGroup"]))
        unusable = [p for p in python_paths() if not usable(p, int(uid), {gid, *groups})]
        if unusable:
            self.security_note = (
                f"runAsUser {uid} not applied: {unusable[0]} (the Python environment) is not "
                f"readable by uid {uid} on this machine; the container runs as root"
            )
            return None, None, []
        return int(uid), gid, groups

    def launch_spec(self, c: ContainerRun, argv: list[str] | None = None) -> Obj:
        """The launcher's JSON spec for container ``c`` (``argv`` overrides the command: exec probes)."""
        spec = c.spec
        profile = image_profile(spec.get("image", ""), self.extra_images)
        if profile is None:  # admitted pods only reach here
            raise VolumeError(f"image {spec.get('image')!r} cannot run here")
        base = dict(profile.env)
        if self.env.apiserver_port:  # as a kubelet does; the pod's own env may override them
            base.update(apiproxy.service_env(self.host_ip, self.env.apiserver_port))
        env = container_env(self.pod, spec, self.env.lookup, base)
        mounts = []
        for m in spec.get("volumeMounts") or []:
            src, ro, is_file = self.volumes.mount_source(m, env)
            mounts.append({"src": src, "dst": m["mountPath"], "ro": ro, "file": is_file})
        msg_path = spec.get("terminationMessagePath", "/dev/termination-log")
        msg_file = self.pod_dir / f"{c.name}.termination-log"
        msg_file.touch()
        msg_file.chmod(0o666)
        mounts.append({"src": str(msg_file), "dst": msg_path, "ro": False, "file": True})
        uid, gid, groups = self._identity(spec, profile)
        root = self.pod_dir / "roots" / f"{c.name}-{time.monotonic_ns()}"
        root.mkdir(parents=True)
        return {
            "netns": str(network.NETNS_DIR / self.env.net.netns(self.uid)),
            "root": str(root),
            "hostname": self.pod["spec"].get("hostname") or self.pod["metadata"]["name"],
            "mounts": mounts,
            "env": env,
            "cwd": spec.get("workingDir") or profile.workdir,
            "uid": uid,
            "gid": gid,
            "groups": groups,
            "expose": python_paths() if uid is not None else [],
            "keep": environment_paths(),
            "argv": argv if argv is not None else command_line(spec, profile, env),
            "error_file": str(self.pod_dir / f"{c.name}.start-error"),
        }

    def start(self, c: ContainerRun) -> None:
        (self.pod_dir / f"{c.name}.termination-log").unlink(missing_ok=True)
        (self.pod_dir / f"{c.name}.start-error").unlink(missing_ok=True)
        spec = self.launch_spec(c)
        c.start(spec, self.pod_dir)
        if self.security_note:
            self.event("SecurityContextNotApplied", self.security_note, "Warning")

    def reap(self, c: ContainerRun) -> Obj | None:
        # The container's root directory stays until teardown: removing a directory that is a
        # mount point in another mount namespace would detach it there.
        return c.reap(self.pod_dir / f"{c.name}.termination-log", self.pod_dir / f"{c.name}.start-error")

    def exec(self, c: ContainerRun, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run ``argv`` in the container's namespaces and mounts (exec probes)."""
        spec = self.launch_spec(c, argv)
        spec["error_file"] = None
        f = self.pod_dir / f"{c.name}.exec.json"
        f.write_text(json.dumps(spec))
        try:
            p = subprocess.run(
                [sys.executable, "-m", "mlendpoints_dev.nodeagent.launch", str(f)],
                capture_output=True,
                timeout=timeout + 2,
                check=False,
                env={"PATH": os.environ.get("PATH", "")},
            )
        finally:
            shutil.rmtree(spec["root"], ignore_errors=True)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    # ------------------------------------------------------------------ API
    def patch_status(self, status: Obj) -> None:
        self.env.kube.patch(f"{self.path}/status", {"status": status})

    def delete_pod(self) -> None:
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}
        try:
            self.env.kube.request("DELETE", self.path, body)
        except ApiError as e:
            if e.status not in (404, 409):
                log.warning("delete %s: %s", self.path, e)

    def event(self, reason: str, message: str, etype: str = "Normal") -> None:
        meta = self.pod["metadata"]
        ns = meta["namespace"]
        ev = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": ns},
            "involvedObject": {
                "kind": "Pod", "namespace": ns, "name": meta["name"], "uid": self.uid, "apiVersion": "v1",
            },
            "reason": reason,
            "message": message[:1024],
            "type": etype,
            "source": {"component": "kubelet", "host": self.pod["spec"]["nodeName"]},
            "firstTimestamp": now_iso(),
            "lastTimestamp": now_iso(),
            "count": 1,
        }  # fmt: skip
        try:
            self.env.kube.request("POST", f"/api/v1/namespaces/{ns}/events", ev)
        except (ApiError, OSError) as e:
            log.debug("event %s: %s", reason, e)
