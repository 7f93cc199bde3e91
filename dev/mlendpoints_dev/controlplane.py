"""What the local control plane runs: fake nodes, audit policy, kubeconfigs and each component's flags.

Pure functions of paths and ports (no process is started here); :class:`~mlendpoints_dev.cluster.LocalCluster`
writes the files and spawns the processes with these arguments.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlendpoints_dev import versions
from mlendpoints_dev.kubecluster import AUDIT_READ_VERBS, AUDIT_WRITE_VERBS

if TYPE_CHECKING:
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


#: Client identities that get a kubeconfig (``admin``'s is the cluster's own kubeconfig).
CLIENTS = ("admin", "kube-controller-manager", "kube-scheduler", "kwok")


def write_client_files(
    pki: PKI, state_dir: Path, *, admin: Path, server: str, cluster: str
) -> dict[str, Path]:
    """Write a kubeconfig per identity in :data:`CLIENTS` and ``audit-policy.json`` into ``state_dir``.

    Returns client name -> kubeconfig path (``admin`` at ``admin``, the others in ``state_dir``).
    """
    kubeconfigs = {}
    for client in CLIENTS:
        cc = pki.client(client)
        path = admin if client == "admin" else state_dir / f"{client}.kubeconfig"
        kubeconfigs[client] = write_kubeconfig(
            path, server=server, ca_cert=pki.ca_cert, cert=cc.cert, key=cc.key, cluster=cluster, user=client
        )
    policy = state_dir / "audit-policy.json"
    policy.write_text(json.dumps(audit_policy(), indent=2) + "\n")
    return kubeconfigs


def etcd_args(data_dir: Path, *, client_port: int, peer_port: int) -> list[str]:
    """etcd flags: one member, every URL on loopback and our ports, fsync off (test data is disposable)."""
    client_url = f"http://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    return [
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}",
        "--unsafe-no-fsync",
        f"--quota-backend-bytes={2 * 1024**3}",
        "--log-level=warn",
    ]


def apiserver_args(
    pki: PKI,
    *,
    etcd_url: str,
    port: int,
    state_dir: Path,
    audit_log: Path,
    node_ips: Sequence[str],
    extra: Sequence[str] = (),
) -> list[str]:
    """kube-apiserver flags: RBAC, ServiceAccount tokens, the aggregation layer and an audit log.

    ``node_ips`` are the process nodes' addresses (empty without process nodes): the first is
    advertised in the ``kubernetes`` Service. ``state_dir`` holds ``audit-policy.json`` (written
    by the caller from :func:`audit_policy`) and the serving-certificate directory.
    """
    front_proxy = pki.client("front-proxy-client")
    return [
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        f"--advertise-address={node_ips[0] if node_ips else '127.0.0.1'}",
        f"--secure-port={port}",
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
        f"--proxy-client-cert-file={front_proxy.cert}",
        f"--proxy-client-key-file={front_proxy.key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # Without process nodes the `kubernetes` Service could only point at 127.0.0.1
        # (Endpoints reject loopback IPs) and no pod runs to use it: no endpoints then.
        f"--endpoint-reconciler-type={'lease' if node_ips else 'none'}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        f"--cert-dir={state_dir / 'apiserver-certs'}",
        f"--audit-policy-file={state_dir / 'audit-policy.json'}",
        f"--audit-log-path={audit_log}",
        "--audit-log-maxsize=200",
        "--audit-log-maxbackup=1",
        "--profiling=false",
        *extra,
    ]


def _auth(kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
    ]


def controller_manager_args(pki: PKI, *, kubeconfig: Path, port: int, state_dir: Path) -> list[str]:
    """kube-controller-manager flags: every controller, per-controller ServiceAccounts, no leader election."""
    return [
        *_auth(kubeconfig),
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={state_dir / 'kcm-certs'}",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--controllers=*",
        "--profiling=false",
    ]


def scheduler_args(*, kubeconfig: Path, port: int, state_dir: Path) -> list[str]:
    """kube-scheduler flags: loopback only, no leader election."""
    return [
        *_auth(kubeconfig),
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={state_dir / 'scheduler-certs'}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kwok_args(*, kubeconfig: Path, stages: Path) -> list[str]:
    """kwok flags: play only the nodes annotated :data:`KWOK_NODE_ANNOTATION` with ``stages``' lifecycle."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--config={stages}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        "--node-lease-duration-seconds=40",
        f"--cidr={POD_CIDR}",
        "--node-ip=10.243.0.1",
    ]


def state_record(
    name: str,
    *,
    state_dir: Path,
    ports: Mapping[str, int],
    kubeconfig: Path,
    audit_log: Path,
    binaries: Mapping[str, Path],
) -> dict[str, Any]:
    """The ``state.json`` a fresh start records (ports, paths, versions, binaries; no process yet)."""
    return {
        "name": name,
        "state_dir": str(state_dir),
        "server": f"https://127.0.0.1:{ports['apiserver']}",
        "ports": dict(ports),
        "kubeconfig": str(kubeconfig),
        "audit_log": str(audit_log),
        "versions": {
            "kubernetes": versions.KUBERNETES,
            "etcd": versions.ETCD,
            "kwok": versions.KWOK,
            "helm": versions.HELM,
            "gateway_api": versions.GATEWAY_API,
        },
        "binaries": {k: str(v) for k, v in binaries.items()},
        "processes": [],
        "started_at": time.time(),
    }
