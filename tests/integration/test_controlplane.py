"""The local control plane behaves like a real cluster where the operator depends on it.

Each test exercises one component: the scheduler and kwok (Deployments get Running+Ready Pods
on the fake nodes; GPU Pods land on the GPU node only when they tolerate its taint),
kube-controller-manager (Jobs complete, ownerReferences are garbage-collected), the apiserver's
version stamp and audit log. Waits are bounded (kubectl's --timeout or a deadline loop), never
fixed sleeps, so a broken component fails the test instead of hanging or passing by luck.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlendpoints_dev import KubeCluster, versions
from mlendpoints_dev.cluster import CPU_NODES, GPU_NODE, GPU_RESOURCE
from mlendpoints_dev.pki import ensure_pki

T = TypeVar("T")
TIMEOUT = 60


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == type_:
            return dict(c)
    return None


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "main", "image": "example.invalid/app:1", **spec.pop("container", {})}],
            **spec,
        },
    }


GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


# --------------------------------------------------------------------- scheduler + kwok
def test_deployment_gets_running_ready_pods_on_cpu_nodes(cluster: KubeCluster, namespace: str) -> None:
    replicas = 4  # more Pods than CPU nodes: without the GPU taint some would land on the GPU node
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]},
                },
            },
        },
        "-n",
        namespace,
    )
    cluster.kubectl(
        "rollout", "status", "deployment/web", "-n", namespace, f"--timeout={TIMEOUT}s", timeout=TIMEOUT + 10
    )

    deploy = cluster.kubectl_json("get", "deployment", "web", "-n", namespace)
    assert deploy["status"].get("readyReplicas") == replicas
    assert deploy["status"].get("availableReplicas") == replicas
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == replicas
    for p in pods:
        assert p["status"]["phase"] == "Running", p["status"]
        ready = condition(p, "Ready")
        assert ready is not None, p["status"]
        assert ready["status"] == "True", p["status"]
        assert p["spec"]["nodeName"] in CPU_NODES, p["spec"]["nodeName"]
        assert p["status"].get("podIP"), "kwok assigns a pod IP from --cidr"

    # Deleting the Deployment cascades through the ReplicaSet to the Pods (garbage collector + kwok).
    cluster.kubectl("delete", "deployment", "web", "-n", namespace, "--cascade=background")
    wait_for(
        "the Deployment's Pods to be garbage-collected",
        lambda: not cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"],
    )


# ---------------------------------------------------------------- kube-controller-manager
def test_job_completes(cluster: KubeCluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "example.invalid/batch:1"}],
                    }
                },
            },
        },
        "-n",
        namespace,
    )
    cluster.kubectl(
        "wait",
        "--for=condition=Complete",
        "job/once",
        "-n",
        namespace,
        f"--timeout={TIMEOUT}s",
        timeout=TIMEOUT + 10,
    )
    job = cluster.kubectl_json("get", "job", "once", "-n", namespace)
    assert job["status"].get("succeeded") == 1
    assert not job["status"].get("failed")


def test_deleting_owner_garbage_collects_children(cluster: KubeCluster, namespace: str) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "parent"}}, "-n", namespace)
    uid = cluster.kubectl_json("get", "configmap", "parent", "-n", namespace)["metadata"]["uid"]
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": uid}
    for child in ("child-a", "child-b"):
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": child, "ownerReferences": [owner]},
                "data": {"k": "v"},
            },
            "-n",
            namespace,
        )
    # An unowned bystander must survive: the collector follows ownerReferences, not names.
    cluster.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bystander"}}, "-n", namespace
    )

    cluster.kubectl("delete", "configmap", "parent", "-n", namespace, "--cascade=background")

    def children_left() -> list[str]:
        items = cluster.kubectl_json("get", "configmaps", "-n", namespace)["items"]
        return [i["metadata"]["name"] for i in items]

    wait_for(
        "child ConfigMaps to be garbage-collected", lambda: not {"child-a", "child-b"} & set(children_left())
    )
    assert "bystander" in children_left()


# ------------------------------------------------------------------------------ GPU node
def test_gpu_pod_lands_on_gpu_node(cluster: KubeCluster, namespace: str) -> None:
    node = cluster.kubectl_json("get", "node", GPU_NODE)
    assert node["status"]["allocatable"].get(GPU_RESOURCE) == "4"

    cluster.apply(
        pod(
            "trainer",
            container={"resources": {"limits": {GPU_RESOURCE: "1"}}},
            tolerations=[GPU_TOLERATION],
        ),
        "-n",
        namespace,
    )
    cluster.kubectl(
        "wait",
        "--for=condition=Ready",
        "pod/trainer",
        "-n",
        namespace,
        f"--timeout={TIMEOUT}s",
        timeout=TIMEOUT + 10,
    )
    got = cluster.kubectl_json("get", "pod", "trainer", "-n", namespace)
    assert got["spec"]["nodeName"] == GPU_NODE
    assert got["status"]["phase"] == "Running"


def test_gpu_pod_without_toleration_is_unschedulable(cluster: KubeCluster, namespace: str) -> None:
    cluster.apply(
        pod("no-toleration", container={"resources": {"limits": {GPU_RESOURCE: "1"}}}), "-n", namespace
    )

    def unschedulable() -> dict[str, Any] | None:
        got = cluster.kubectl_json("get", "pod", "no-toleration", "-n", namespace)
        cond = condition(got, "PodScheduled")
        return cond if cond and cond["status"] == "False" and cond.get("reason") == "Unschedulable" else None

    cond = wait_for("the scheduler to report the GPU Pod Unschedulable", unschedulable)
    # The GPU node has room; the taint is what keeps this Pod off it (the CPU nodes lack the resource).
    assert "untolerated taint" in cond.get("message", ""), cond
    assert not cluster.kubectl_json("get", "pod", "no-toleration", "-n", namespace)["spec"].get("nodeName")


# --------------------------------------------------------------------- apiserver identity
def test_version_is_stamped(cluster: KubeCluster) -> None:
    if not cluster.is_local:
        pytest.skip("an external cluster runs its own Kubernetes version")
    server = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)
    assert server["gitVersion"] == versions.KUBERNETES
    assert server["major"] == "1"
    assert server["minor"] == versions.KUBERNETES.split(".")[1]
    client = cluster.kubectl_json("version", "--client")["clientVersion"]
    assert client["gitVersion"] == versions.KUBERNETES
    helm = subprocess.run(
        [str(cluster.helm), "version", "--short"],
        capture_output=True,
        text=True,
        check=True,
        env=cluster.env(),
    )
    assert helm.stdout.startswith(versions.HELM), helm.stdout


def test_audit_log_records_each_write_once(cluster: KubeCluster, namespace: str) -> None:
    from mlendpoints_dev import LocalCluster

    if not isinstance(cluster, LocalCluster):
        pytest.skip("the audit log is only readable for the local control plane")
    user = f"audit-probe-{namespace[-6:]}"
    kubeconfig = cluster.make_kubeconfig(user)
    mark = cluster.audit_mark()
    cm = json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": namespace}}
    )
    kubectl = [str(cluster.bin("kubectl")), f"--kubeconfig={kubeconfig}"]
    subprocess.run([*kubectl, "create", "-f", "-"], input=cm, text=True, check=True, capture_output=True)
    subprocess.run([*kubectl, "get", "configmap", "probe", "-n", namespace], check=True, capture_output=True)
    patch = ["patch", "configmap", "probe", "-n", namespace, "--type=merge", "-p", '{"data":{"a":"b"}}']
    subprocess.run([*kubectl, *patch], check=True, capture_output=True)

    def two_events() -> list[dict[str, Any]] | None:
        got = cluster.audit_events(mark, user=user)
        return got if len(got) >= 2 else None

    events = wait_for("2 audit events", two_events)
    assert [(e["verb"], e["objectRef"]["resource"], e["objectRef"].get("name")) for e in events] == [
        ("create", "configmaps", "probe"),
        ("patch", "configmaps", "probe"),
    ]  # and no "get": reads are not logged
    assert all(e["level"] == "Metadata" and e["stage"] == "ResponseComplete" for e in events)


# ----------------------------------------------------------------------- PKI (no cluster)
def test_pki_chains_to_ca_and_has_sans(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    def load(path: Path) -> x509.Certificate:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        cert.verify_directly_issued_by(ca)  # raises if the signature or issuer does not match
        return cert

    serving = load(pki.apiserver_cert)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(sans.get_values_for_type(x509.DNSName))
    ips = set(sans.get_values_for_type(x509.IPAddress))
    assert {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"} <= dns
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.0.0.1")} <= ips
    eku = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku

    def subject(name: str) -> tuple[str, list[str]]:
        cert = load(pki.client(name).cert)
        assert (
            ExtendedKeyUsageOID.CLIENT_AUTH
            in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        return str(cn), [str(o) for o in orgs]

    assert "system:masters" in subject("admin")[1]
    assert subject("kube-controller-manager") == ("system:kube-controller-manager", [])
    assert subject("kube-scheduler") == ("system:kube-scheduler", [])

    # Each cert's key is its own: the private key on disk matches the certificate's public key.
    for cert_path, key_path in [
        (pki.apiserver_cert, pki.apiserver_key),
        *[(c.cert, c.key) for c in pki.clients.values()],
    ]:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.public_key() == load(cert_path).public_key()

    sa_key = serialization.load_pem_private_key(pki.sa_key.read_bytes(), password=None)
    sa_pub = serialization.load_pem_public_key(pki.sa_pub.read_bytes())
    assert isinstance(sa_key, rsa.RSAPrivateKey)
    assert sa_key.public_key() == sa_pub

    # A second call reuses the credentials (etcd data made with them stays valid across restarts).
    before = pki.ca_cert.read_bytes()
    assert ensure_pki(tmp_path / "pki").ca_cert.read_bytes() == before
