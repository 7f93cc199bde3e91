"""Node objects, Leases and the kubelet serving certificate of the process nodes."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path

from mlendpoints_dev import versions
from mlendpoints_dev.nodeagent.kube import MERGE, ApiError, Kube, Obj
from mlendpoints_dev.nodeagent.network import ClusterNet

#: Label every process node carries (select them with it); kwok nodes carry ``type=kwok``.
KIND_LABEL = "mlendpoints.io/node-kind"
#: Taint keeping pods that do not ask for a process node off it (toleration needed).
TAINT_KEY = "mlendpoints.io/process-node"
CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}


def kubelet_port(address: str, preferred: int | None) -> int:
    """A port free on ``address`` (``preferred`` if it is)."""
    for port in (preferred or 0, 0):
        with socket.socket() as s:
            try:
                s.bind((address, port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError(f"no free port on {address}")


def serving_cert(state_dir: Path, addresses: list[str]) -> tuple[Path, Path]:
    """A kubelet serving certificate for ``addresses``, signed by the cluster CA."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from mlendpoints_dev import pki as pkimod

    pki = pkimod.ensure_pki(state_dir / "pki")
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = pkimod._load_key(pki.ca_key)
    key = pkimod._ec_key()
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    sans.append(x509.DNSName("localhost"))
    cert = pkimod._sign_leaf(
        ca_cert, ca_key, pkimod._name("process-node-kubelet"), key, ExtendedKeyUsageOID.SERVER_AUTH, sans
    )
    out_cert, out_key = pki.dir / "nodeagent-serving.crt", pki.dir / "nodeagent-serving.key"
    pkimod._write_key(out_key, key)
    pkimod._write_cert(out_cert, cert)
    return out_cert, out_key


def _now(micro: bool = False) -> str:
    t = dt.datetime.now(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _ready(now: str) -> list[Obj]:
    conds = [("MemoryPressure", "False", "KubeletHasSufficientMemory"),
             ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
             ("PIDPressure", "False", "KubeletHasSufficientPID"),
             ("Ready", "True", "KubeletReady")]  # fmt: skip
    return [
        {"type": t, "status": s, "reason": r, "message": "process node agent", "lastHeartbeatTime": now,
         "lastTransitionTime": now}
        for t, s, r in conds
    ]  # fmt: skip


def register(kube: Kube, name: str, net: ClusterNet, index: int, port: int, *, taint: bool) -> None:
    """Create/update the Node (spec by SSA, status by merge patch) and its Lease."""
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "process",
                KIND_LABEL: "process",
                "node.kubernetes.io/instance-type": "process",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": net.node_cidr(index), "podCIDRs": [net.node_cidr(index)]},
    }
    if taint:
        node["spec"]["taints"] = [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
    try:
        kube.apply(f"/api/v1/nodes/{name}", node)
    except ApiError as e:
        if e.status != 422:  # podCIDR is immutable once set: the node predates a range change
            raise
        kube.request("DELETE", f"/api/v1/nodes/{name}")
        kube.apply(f"/api/v1/nodes/{name}", node)
    now = _now()
    status = {
        "status": {
            "capacity": CAPACITY,
            "allocatable": CAPACITY,
            "addresses": [{"type": "InternalIP", "address": net.gateway(index)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "conditions": _ready(now),
            "nodeInfo": {
                "kubeletVersion": versions.KUBERNETES, "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": "amd64", "containerRuntimeVersion": "process://mlendpoints-nodeagent",
                "osImage": "mlendpoints process node", "kernelVersion": "", "machineID": "", "systemUUID": "",
                "bootID": "", },
        }
    }  # fmt: skip
    kube.patch(f"/api/v1/nodes/{name}/status", status, MERGE)
    heartbeat(kube, name, conditions=False)


def heartbeat(kube: Kube, name: str, *, conditions: bool = True) -> None:
    """Renew the node's Lease (what the node lifecycle controller watches) and its Ready time."""
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": _now(micro=True)},
    }
    try:
        kube.apply(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}", lease)
        if conditions:
            kube.patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": _ready(_now())}})
    except (ApiError, OSError):
        pass  # the next beat retries; 40 s of misses are tolerated
