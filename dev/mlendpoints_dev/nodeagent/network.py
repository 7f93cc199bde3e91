"""Pod networking of the process nodes: one host bridge per cluster, one network namespace per pod.

Layout (``<id>`` is 5 hex digits derived from the cluster's state directory, so two clusters on
one machine never share a name)::

    host:  bridge mlb<id>  holds 10.X.<n>.1/24 for every node n   (the nodes' gateway addresses)
    pod:   netns mlp-<id>-<pod uid>  with  eth0 = 10.X.<n>.<k>/24, lo up,
           route 10.X.0.0/16 on-link (pods on other nodes answer ARP on the same bridge),
           default via 10.X.<n>.1 (the host; nothing is forwarded further: ip_forward is untouched)
    veth:  mlv<id><7 hex of the uid> (host side, enslaved to the bridge) <-> eth0 in the netns
           (created as mlq<id><7 hex> and renamed once inside)

The cluster's /16 is picked among 10.200.0.0/16 .. 10.239.0.0/16 so that it overlaps no route
the machine already has (``ip -j route``), under a machine-wide lock, and the bridge is created
under the same lock, so two clusters started at once take different ranges.

Everything here only ever touches names with our prefixes *and* this cluster's id; :func:`sweep`
removes exactly those (killing the processes still inside our namespaces first).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlendpoints_dev import versions

#: First octet pairs tried for a cluster's pod range: 10.200.0.0/16 ... 10.239.0.0/16.
CANDIDATE_RANGE = range(200, 240)
NETNS_DIR = Path("/run/netns")


class NetworkError(RuntimeError):
    """An ``ip`` command failed, or no free pod range is left."""


def cluster_id(state_dir: Path) -> str:
    """5 hex digits identifying a cluster's network objects (stable for one state directory)."""
    return hashlib.sha1(str(Path(state_dir).resolve()).encode()).hexdigest()[:5]  # noqa: S324 - a name, not security


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip <args>``; raise :class:`NetworkError` with its stderr on failure when ``check``."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


@dataclass(frozen=True)
class ClusterNet:
    """The network of one cluster's process nodes."""

    cid: str
    cidr: str  # the cluster's /16, e.g. "10.200.0.0/16"

    @property
    def bridge(self) -> str:
        return f"mlb{self.cid}"

    def node_cidr(self, index: int) -> str:
        """Pod CIDR (a /24) of node number ``index``."""
        net = ipaddress.ip_network(self.cidr)
        return str(list(net.subnets(new_prefix=24))[index])

    def gateway(self, index: int) -> str:
        """The host's address on node ``index``'s subnet: the node's InternalIP and pods' gateway."""
        return str(ipaddress.ip_network(self.node_cidr(index))[1])

    def netns(self, uid: str) -> str:
        return f"mlp-{self.cid}-{uid}"

    def host_veth(self, uid: str) -> str:
        return f"mlv{self.cid}{uid.replace('-', '')[:7]}"


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    path = versions.cache_root() / "podnet.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _routes() -> list[ipaddress.IPv4Network]:
    out = ip("-j", "-4", "route", "show", "table", "all").stdout
    nets = []
    for r in json.loads(out or "[]"):
        dst = r.get("dst", "")
        if dst in ("default", "") or ":" in dst:
            continue
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
    return nets


def setup_bridge(state_dir: Path, nodes: int, preferred: str | None = None) -> ClusterNet:
    """Pick the cluster's pod range and create its bridge with one gateway address per node.

    Idempotent: an existing bridge of this cluster is kept with the range it already has.
    Raises :class:`NetworkError` when every candidate range collides with a route.
    """
    cid = cluster_id(state_dir)
    with _machine_lock():
        bridge = f"mlb{cid}"
        existing = ip("-j", "-4", "addr", "show", "dev", bridge, check=False)
        if existing.returncode == 0:
            addrs = [a for i in json.loads(existing.stdout) for a in i.get("addr_info", [])]
            if addrs:
                first = ipaddress.ip_interface(f"{addrs[0]['local']}/{addrs[0]['prefixlen']}")
                net = ClusterNet(cid, str(ipaddress.ip_network(f"{first.ip}/16", strict=False)))
                _add_gateways(net, nodes)
                return net
            ip("link", "del", bridge, check=False)
        taken = _routes()
        candidates = [f"10.{b}.0.0/16" for b in CANDIDATE_RANGE]
        if preferred in candidates:
            candidates.insert(0, preferred)
        for cidr in candidates:
            if not any(ipaddress.ip_network(cidr).overlaps(t) for t in taken):
                net = ClusterNet(cid, cidr)
                ip("link", "add", bridge, "type", "bridge")
                _add_gateways(net, nodes)
                ip("link", "set", bridge, "up")
                return net
    raise NetworkError("no free pod range among 10.200.0.0/16-10.239.0.0/16 (all overlap existing routes)")


def _add_gateways(net: ClusterNet, nodes: int) -> None:
    for n in range(nodes):
        gw = net.gateway(n)
        ip("addr", "replace", f"{gw}/24", "dev", net.bridge)


def create_pod_netns(net: ClusterNet, uid: str, pod_ip: str, node_index: int) -> str:
    """Create the pod's namespace, veth pair and addresses; returns the netns name (idempotent)."""
    ns, host = net.netns(uid), net.host_veth(uid)
    delete_pod_netns(net, uid)
    peer = f"mlq{net.cid}{uid.replace('-', '')[:7]}"
    ip("netns", "add", ns)
    ip("link", "add", host, "type", "veth", "peer", "name", peer)
    ip("link", "set", peer, "netns", ns)
    ip("link", "set", host, "master", net.bridge, "up")
    run = ["netns", "exec", ns, "ip"]
    ip(*run, "link", "set", "lo", "up")
    ip(*run, "link", "set", peer, "name", "eth0")
    ip(*run, "addr", "add", f"{pod_ip}/24", "dev", "eth0")
    ip(*run, "link", "set", "eth0", "up")
    ip(*run, "route", "replace", net.cidr, "dev", "eth0")
    ip(*run, "route", "replace", "default", "via", net.gateway(node_index), "dev", "eth0")
    return ns


def kill_netns_processes(ns: str, wait_s: float = 2.0) -> None:
    """SIGKILL every process still inside our namespace ``ns`` (they can only be ours), and wait
    up to ``wait_s`` seconds until none is left, so their sockets are closed."""
    out = ip("netns", "pids", ns, check=False).stdout
    for pid in out.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    while out.split() and time.monotonic() < deadline:
        time.sleep(0.05)
        out = ip("netns", "pids", ns, check=False).stdout


def delete_pod_netns(net: ClusterNet, uid: str) -> None:
    """Remove the pod's namespace and veth (deleting either end of a veth removes both).

    The processes go first, while the veth still links the pod to the host: their sockets' FIN
    then reaches the peers (the gateway's pooled connections). With the veth gone first, the
    gateway would keep those connections open until its idle timeout and, once the pod's IP is
    given to a new pod, send a request into one of them: the new pod resets it and the gateway
    answers 502.
    """
    ns = net.netns(uid)
    if (NETNS_DIR / ns).exists():
        kill_netns_processes(ns)
    ip("link", "del", net.host_veth(uid), check=False)
    if (NETNS_DIR / ns).exists():
        ip("netns", "del", ns, check=False)


def our_netns(cid: str) -> list[str]:
    """Names of this cluster's pod namespaces that exist now."""
    prefix = f"mlp-{cid}-"
    with contextlib.suppress(FileNotFoundError):
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
    return []


def our_links(cid: str) -> list[str]:
    """Names of this cluster's host-side links (bridge and veths) that exist now."""
    out = ip("-j", "link", "show", check=False).stdout or "[]"
    names = [str(i.get("ifname", "")) for i in json.loads(out)]
    return [n for n in names if n == f"mlb{cid}" or n.startswith((f"mlv{cid}", f"mlq{cid}"))]


def sweep(state_dir: Path, *, bridge: bool) -> list[str]:
    """Delete this cluster's pod namespaces (killing what runs inside) and veths; the bridge too
    when ``bridge``. Returns what was removed. Safe to call any number of times."""
    cid = cluster_id(state_dir)
    removed = []
    for ns in our_netns(cid):
        kill_netns_processes(ns)
        ip("netns", "del", ns, check=False)
        removed.append(f"netns {ns}")
    for link in our_links(cid):
        if link == f"mlb{cid}" and not bridge:
            continue
        ip("link", "del", link, check=False)
        removed.append(f"link {link}")
    return removed
