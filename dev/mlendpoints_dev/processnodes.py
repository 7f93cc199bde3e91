"""Wiring of the process nodes into :class:`~mlendpoints_dev.LocalCluster` (small hooks).

``up`` writes the agent's config (credentials, node count, taint) and starts
``python -m mlendpoints_dev.nodeagent`` as one more recorded process; ``down`` stops it
like the others and then sweeps the cluster's network objects, so a killed agent leaves nothing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlendpoints_dev.nodeagent.nodes import KIND_LABEL

if TYPE_CHECKING:
    from mlendpoints_dev.cluster import LocalCluster

#: ``MLENDPOINTS_PROCESS_NODES`` overrides the default number of process nodes (2).
DEFAULT_NODES = 2
NODE_SELECTOR = f"{KIND_LABEL}=process"


def default_count() -> int:
    """Process nodes a cluster gets unless told otherwise (``$MLENDPOINTS_PROCESS_NODES``, default 2)."""
    return int(os.environ.get("MLENDPOINTS_PROCESS_NODES", DEFAULT_NODES))


def apiserver_flags(cluster: LocalCluster) -> list[str]:
    """kube-apiserver flags for calling the agent's kubelet API (logs) with mutual TLS."""
    pki = cluster.pki
    client = pki.client("apiserver-kubelet-client")
    return [
        f"--kubelet-client-certificate={client.cert}",
        f"--kubelet-client-key={client.key}",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


def prepare_network(cluster: LocalCluster, count: int) -> list[str]:
    """Create the pod bridge before the API server starts; returns the node addresses.

    The agent later finds the bridge and keeps its range. The addresses are where pods reach
    the API server (the agent forwards them to it, see ``nodeagent/apiproxy.py``), so
    ``up`` adds them to the API server's certificate and advertises the first one in the
    ``kubernetes`` Service. Raises :class:`~mlendpoints_dev.nodeagent.network.NetworkError`
    when ``ip`` fails (e.g. not root) or no pod range is free.
    """
    from mlendpoints_dev.nodeagent import network

    try:
        net = network.setup_bridge(cluster.state_dir, count, info(cluster).get("cidr"))
    except (network.NetworkError, OSError) as e:
        raise network.NetworkError(
            f"cannot set up the process nodes' pod network: {e}. Process nodes need root (or "
            "CAP_NET_ADMIN + CAP_SYS_ADMIN) and the `ip` command (iproute2); without them start the "
            "cluster with --process-nodes 0 (or MLENDPOINTS_PROCESS_NODES=0)"
        ) from e
    return [net.gateway(i) for i in range(count)]


def agent_args(cluster: LocalCluster, count: int, server: str, *, taint: bool) -> tuple[Path, list[str]]:
    """(executable, args) of the agent process, after writing its config file."""
    pki = cluster.pki
    me = pki.client("nodeagent")
    config: dict[str, Any] = {
        "state_dir": str(cluster.state_dir),
        "nodes": count,
        "taint": taint,
        "credentials": {"server": server, "ca": str(pki.ca_cert), "cert": str(me.cert), "key": str(me.key)},
    }
    path = cluster.state_dir / "nodeagent.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return Path(sys.executable), ["-m", "mlendpoints_dev.nodeagent", str(path)]


def info(cluster: LocalCluster) -> dict[str, Any]:
    """What the agent wrote at start: ``cidr``, ``bridge``, ``kubelet_port``, ``nodes`` [{name, podCIDR,
    address}] ({} without process nodes). ``address`` is also where pods reach the host."""
    try:
        data: dict[str, Any] = json.loads((cluster.state_dir / "nodeagent" / "network.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def sweep(cluster: LocalCluster) -> list[str]:
    """Remove this cluster's pod namespaces (and what runs in them), veths and bridge."""
    from mlendpoints_dev.nodeagent import network

    if not (cluster.state_dir / "nodeagent.json").exists():
        return []
    return network.sweep(cluster.state_dir, bridge=True)


def nodes_ready(cluster: LocalCluster, selector: str) -> bool:
    """True once every process node exists and is Ready."""
    got = cluster.kubectl("get", "nodes", "-l", selector, "-o", "json", check=False)
    if got.returncode != 0:
        return False
    items = json.loads(got.stdout).get("items", [])
    ready = [
        n for n in items
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
    ]  # fmt: skip
    return len(items) == cluster.process_nodes and len(ready) == len(items)
