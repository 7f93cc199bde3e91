"""Process nodes: pods on them really run (netns + IP, volumes, env, probes, restarts, logs).

Every test runs against the session's local cluster, whose node agent plays the kubelet of
``process-node-0``/``-1``. Pods select them with the node-kind label and tolerate their taint.
Waits are bounded polls of the API (or of the pod's IP), never fixed sleeps. The containers run
the project image's environment: ``python`` is the checkout's virtualenv.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mlendpoints_dev import KubeCluster, LocalCluster
from mlendpoints_dev.nodeagent import KIND_LABEL, TAINT_KEY, network

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="process nodes need root (network namespaces)")

T = TypeVar("T")
IMAGE = "ghcr.io/mlendpoints/runtime:dev"
REPO = Path(__file__).resolve().parents[2]

# Serves, per request, the env vars and files the test asks about (so updates show without restart).
SERVER = """
import http.server, json, os, pathlib
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "env": {k: os.environ.get(k) for k in ("GREETING", "CFG_COLOR", "PASSWORD", "POD_NAME", "POD_IP")},
            "files": {p: pathlib.Path(p).read_text() for p in ("/etc/cfg/color", "/etc/sec/password")},
            "data_link": os.readlink("/etc/sec/..data"),
            "hostname": os.uname().nodename, "cwd": os.getcwd(),
        }).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
print("serving", flush=True)
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
"""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.3)


def process_pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    for c in [*containers, *spec.get("initContainers", [])]:
        c.setdefault("image", IMAGE)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {KIND_LABEL: "process"},
            "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 5,
            "containers": containers,
            **spec,
        },
    }


def get_pod(cluster: KubeCluster, ns: str, name: str) -> dict[str, Any]:
    return dict(cluster.kubectl_json("get", "pod", name, "-n", ns))


def cstatus(pod: dict[str, Any], name: str = "main", key: str = "containerStatuses") -> dict[str, Any]:
    for c in pod.get("status", {}).get(key) or []:
        if c["name"] == name:
            return dict(c)
    return {}


def ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
    )


def http_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_pod_serves_with_configmap_and_secret_and_rotates_the_secret(
    cluster: KubeCluster, namespace: str
) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                   "data": {"color": "blue", "GREETING": "hello"}}, "-n", namespace)  # fmt: skip
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
                   "data": {"password": b64("s3cret-1")}}, "-n", namespace)  # fmt: skip
    container = {
        "name": "main",
        "command": ["python", "-c", SERVER],
        "workingDir": "/srv/app",
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "env": [
            {"name": "CFG_COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
            {"name": "sec", "mountPath": "/etc/sec", "readOnly": True},
        ],
    }
    volumes = [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "sec"}},
    ]
    cluster.apply(process_pod("web", [container], volumes=volumes), "-n", namespace)

    pod = wait_for("pod web Ready", lambda: p if ready(p := get_pod(cluster, namespace, "web")) else None)
    ip = pod["status"]["podIP"]
    assert pod["spec"]["nodeName"].startswith("process-node-")
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["podIPs"] == [{"ip": ip}]
    body = wait_for("HTTP answer from the pod IP", lambda: http_json(f"http://{ip}:8080/"))
    assert body["env"] == {"GREETING": "hello", "CFG_COLOR": "blue", "PASSWORD": "s3cret-1",
                           "POD_NAME": "web", "POD_IP": ip}  # fmt: skip
    assert body["files"] == {"/etc/cfg/color": "blue", "/etc/sec/password": "s3cret-1"}
    assert body["hostname"] == "web"
    assert body["cwd"] == "/srv/app"
    first_link = body["data_link"]
    assert first_link.startswith("..")

    # Rotate the Secret: the file changes through a new ..data target; the process keeps running.
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
                   "data": {"password": b64("s3cret-2")}}, "-n", namespace)  # fmt: skip
    rotated = wait_for(
        "rotated secret visible in the pod",
        lambda: (
            b
            if (b := http_json(f"http://{ip}:8080/")) and b["files"]["/etc/sec/password"] == "s3cret-2"
            else None
        ),
    )
    assert rotated["data_link"] != first_link
    assert rotated["env"]["PASSWORD"] == "s3cret-1"  # env is fixed at start, as on a real node
    assert cstatus(get_pod(cluster, namespace, "web"))["restartCount"] == 0

    # Deleting the pod stops the process (SIGTERM) and removes its network namespace and veth.
    uid = pod["metadata"]["uid"]
    cid = network.cluster_id(Path(cluster.state_dir)) if isinstance(cluster, LocalCluster) else None
    cluster.kubectl("delete", "pod", "web", "-n", namespace, "--wait=true", "--timeout=60s")
    assert http_json(f"http://{ip}:8080/") is None
    if cid is not None:
        net = network.ClusterNet(cid, "")
        assert not (network.NETNS_DIR / net.netns(uid)).exists()
        assert net.host_veth(uid) not in network.our_links(cid)


def test_crashing_container_backs_off_and_keeps_previous_logs(cluster: KubeCluster, namespace: str) -> None:
    script = "import sys, time; print('boom at', time.time(), flush=True); sys.exit(3)"
    cluster.apply(
        process_pod("crash", [{"name": "main", "command": ["python", "-c", script]}]), "-n", namespace
    )

    def crashlooping() -> dict[str, Any] | None:
        st = cstatus(get_pod(cluster, namespace, "crash"))
        waiting = st.get("state", {}).get("waiting", {})
        return st if waiting.get("reason") == "CrashLoopBackOff" and st["restartCount"] >= 1 else None

    st = wait_for("CrashLoopBackOff", crashlooping)
    last = st["lastState"]["terminated"]
    assert last["exitCode"] == 3
    assert last["reason"] == "Error"
    assert "back-off" in st["state"]["waiting"]["message"]
    assert get_pod(cluster, namespace, "crash")["status"]["phase"] == "Running"
    previous = cluster.kubectl("logs", "crash", "-n", namespace, "--previous").stdout
    assert "boom at" in previous
    current = cluster.kubectl("logs", "crash", "-n", namespace, "-c", "main").stdout
    assert "boom at" in current


def test_readiness_probe_gates_ready_and_the_endpointslice(cluster: KubeCluster, namespace: str) -> None:
    # Ready only once /data/ready exists (an exec probe, run inside the container's mounts).
    script = (
        "import http.server, pathlib, time\n"
        "time.sleep(4); pathlib.Path('/data/ready').write_text('y')\n"
        "http.server.ThreadingHTTPServer(('', 8080), http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    container = {
        "name": "main",
        "command": ["python", "-c", script],
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"exec": {"command": ["cat", "/data/ready"]}, "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 8, "periodSeconds": 2},
        "volumeMounts": [{"name": "work", "mountPath": "/data"}],
    }
    cluster.apply(
        process_pod("gated", [container], volumes=[{"name": "work", "emptyDir": {}}]), "-n", namespace
    )
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gated"},
                   "spec": {"selector": {"app": "gated"}, "ports": [{"port": 80, "targetPort": 8080}]}},
                  "-n", namespace)  # fmt: skip

    def endpoints() -> list[dict[str, Any]]:
        slices = cluster.kubectl_json(
            "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=gated"
        )
        return [e for s in slices["items"] for e in s.get("endpoints") or []]

    running = wait_for("running but unready", lambda: (
        p if (p := get_pod(cluster, namespace, "gated"))["status"].get("phase") == "Running" else None))  # fmt: skip
    assert not ready(running)
    unready = wait_for(
        "an unready endpoint", lambda: [e for e in endpoints() if e["conditions"].get("ready") is False]
    )
    assert unready[0]["addresses"] == [running["status"]["podIP"]]

    pod = wait_for("Ready", lambda: p if ready(p := get_pod(cluster, namespace, "gated")) else None)
    eps = wait_for(
        "a ready endpoint", lambda: [e for e in endpoints() if e["conditions"].get("ready") is True]
    )
    assert eps[0]["addresses"] == [pod["status"]["podIP"]]
    assert cstatus(pod)["ready"] is True
    assert cstatus(pod)["started"] is True


def test_job_pods_end_succeeded_or_failed_with_termination_message(
    cluster: KubeCluster, namespace: str
) -> None:
    ok = [{"name": "main", "command": ["python", "-c", "print('done')"]}]
    init = [{"name": "prepare", "command": ["sh", "-c", "echo prepared > /data/state"],
             "volumeMounts": [{"name": "work", "mountPath": "/data"}]}]  # fmt: skip
    fail = [{
        "name": "main",
        "command": ["sh", "-c", "cat /data/state; echo 'model missing' > /dev/termination-log; exit 4"],
        "volumeMounts": [{"name": "work", "mountPath": "/data"}],
    }]  # fmt: skip
    vols = [{"name": "work", "emptyDir": {}}]
    cluster.apply(process_pod("ok", ok, restartPolicy="Never"), "-n", namespace)
    cluster.apply(
        process_pod("fail", fail, restartPolicy="Never", initContainers=init, volumes=vols), "-n", namespace
    )

    def phase(name: str, want: str) -> dict[str, Any] | None:
        p = get_pod(cluster, namespace, name)
        return p if p["status"].get("phase") == want else None

    done = wait_for("ok Succeeded", lambda: phase("ok", "Succeeded"))
    term = cstatus(done)["state"]["terminated"]
    assert term["exitCode"] == 0
    assert term["reason"] == "Completed"
    failed = wait_for("fail Failed", lambda: phase("fail", "Failed"))
    term = cstatus(failed)["state"]["terminated"]
    assert term["exitCode"] == 4
    assert term["message"] == "model missing"
    init_term = cstatus(failed, "prepare", "initContainerStatuses")["state"]["terminated"]
    assert init_term["exitCode"] == 0
    assert cluster.kubectl("logs", "fail", "-n", namespace).stdout.strip() == "prepared"


# Asks the API server who it is, as in-cluster clients do: KUBERNETES_SERVICE_HOST/PORT, the
# ServiceAccount token and ca.crt (certificate verified, hostname included).
WHOAMI = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
req = urllib.request.Request(
    f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews", method="POST",
    data=json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode(),
    headers={"Authorization": "Bearer " + open(f"{sa}/token").read().strip(), "Content-Type": "application/json"})
ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
    print(json.load(r)["status"]["userInfo"]["username"], host, port)
"""


def test_pods_reach_the_api_server_with_their_service_account(cluster: KubeCluster, namespace: str) -> None:
    main = [{"name": "main", "command": ["python", "-c", WHOAMI]}]
    cluster.apply(
        process_pod("whoami", main, restartPolicy="Never", automountServiceAccountToken=True), "-n", namespace
    )

    def finished() -> dict[str, Any] | None:
        p = get_pod(cluster, namespace, "whoami")
        return p if p["status"].get("phase") in ("Succeeded", "Failed") else None

    pod = wait_for("whoami to finish", finished)
    logs = cluster.kubectl("logs", "whoami", "-n", namespace).stdout.strip()
    assert pod["status"]["phase"] == "Succeeded", logs
    user, host, port = logs.split()
    assert user == f"system:serviceaccount:{namespace}:default"
    assert host == pod["status"]["hostIP"]  # the node's address, which pods reach
    # The in-cluster `kubernetes` Service advertises a node address at the same port.
    endpoints = cluster.kubectl_json("get", "endpoints", "kubernetes", "-n", "default")["subsets"][0]
    assert [a["ip"] for a in endpoints["addresses"]] == [network_address(cluster, 0)]
    assert endpoints["ports"][0]["port"] == int(port)


def network_address(cluster: KubeCluster, index: int) -> str:
    from mlendpoints_dev import processnodes

    assert isinstance(cluster, LocalCluster)
    return str(processnodes.info(cluster)["nodes"][index]["address"])


def test_foreign_image_ends_err_image_pull(cluster: KubeCluster, namespace: str) -> None:
    cluster.apply(process_pod("foreign", [{"name": "main", "image": "nginx:1.27"}]), "-n", namespace)

    def pulled() -> dict[str, Any] | None:
        st = cstatus(get_pod(cluster, namespace, "foreign"))
        return st if st.get("state", {}).get("waiting", {}).get("reason") == "ErrImagePull" else None

    st = wait_for("ErrImagePull", pulled)
    assert "run only the project's images" in st["state"]["waiting"]["message"]
    assert get_pod(cluster, namespace, "foreign")["status"]["phase"] == "Pending"


def test_unsupported_volume_fails_visibly(cluster: KubeCluster, namespace: str) -> None:
    vols = [{"name": "img", "image": {"reference": "example.invalid/data:1"}}]
    c = [{"name": "main", "command": ["true"], "volumeMounts": [{"name": "img", "mountPath": "/data"}]}]
    cluster.apply(process_pod("imgvol", c, volumes=vols), "-n", namespace)

    def failed() -> dict[str, Any] | None:
        st = cstatus(get_pod(cluster, namespace, "imgvol"))
        w = st.get("state", {}).get("waiting", {})
        return st if w.get("reason") == "CreateContainerConfigError" else None

    assert "not supported on process nodes" in wait_for("config error", failed)["state"]["waiting"]["message"]


def test_cluster_down_removes_every_namespace_and_link(tmp_path: Path) -> None:
    local = LocalCluster("pn-cleanup", state_dir=tmp_path / "c", process_nodes=1, die_with_parent=True)
    out = tmp_path / "out"
    out.mkdir()
    local.start()
    cid = network.cluster_id(local.state_dir)
    try:
        local.wait_for_default_serviceaccount("default")
        c = [{"name": "main", "command": ["sh", "-c", "echo $$$$ > /out/pid; exec sleep 600"],
              "volumeMounts": [{"name": "out", "mountPath": "/out"}]}]  # fmt: skip
        vols = [{"name": "out", "hostPath": {"path": str(out)}}]
        local.apply(process_pod("sleeper", c, volumes=vols), "-n", "default")
        pid_file = out / "pid"
        pid = int(
            wait_for("sleeper's pid", lambda: pid_file.read_text().strip() if pid_file.exists() else None)
        )
        assert Path(f"/proc/{pid}").exists()
        assert network.our_netns(cid)
        assert f"mlb{cid}" in network.our_links(cid)
    finally:
        local.stop()
    assert network.our_netns(cid) == []
    assert network.our_links(cid) == []
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    )
