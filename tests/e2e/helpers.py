"""Manifests and HTTP helpers for the end-to-end tests (scoring through the real gateway).

Inputs: a namespace, the shared Gateway, model URIs in Azurite. Outputs: endpoint/deployment
manifests whose pods land on the process nodes (InstanceType :data:`INSTANCE_TYPE`), and a
bounded, rate-limited load generator that records every failed request.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

INSTANCE_TYPE = "e2e-process"
GATEWAY_NAMESPACE = "e2e-gateway"
GATEWAY_NAME = "e2e-gw"
CONTAINER = "e2e"

SCORE_PY = """\
import json, os, time
import joblib

def init():
    global model
    time.sleep(float(os.environ.get("E2E_INIT_SLEEP", "0")))
    if os.environ.get("E2E_INIT_RAISE"):
        raise RuntimeError(os.environ["E2E_INIT_RAISE"])
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))

def run(raw_data):
    return model.predict(json.loads(raw_data)["data"]).tolist()
"""


def instance_type(node_selector: dict[str, str], tolerations: list[dict[str, str]]) -> dict[str, Any]:
    """A small InstanceType that puts scoring pods on the process nodes."""
    spec: dict[str, Any] = {
        "nodeSelector": node_selector,
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
    }
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "InstanceType", "metadata": {"name": INSTANCE_TYPE},
            "spec": spec}  # fmt: skip


def gateway() -> list[dict[str, Any]]:
    """The tests' shared Gateway (routes from every namespace), on Traefik's port 80."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GATEWAY_NAMESPACE}},
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE},
            "spec": {
                "gatewayClassName": "traefik",
                "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
                               "allowedRoutes": {"namespaces": {"from": "All"}}}],
            },
        },
    ]  # fmt: skip


def endpoint(name: str, traffic: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": name},
        "spec": {
            "authMode": "key",
            "traffic": traffic,
            "routing": {"type": "gatewayAPI",
                        "parentRefs": [{"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE}]},
        },
    }  # fmt: skip


def score_configmap(name: str = "score") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"score.py": SCORE_PY},
    }


def deployment(
    name: str,
    endpoint_name: str,
    model_uri: str,
    *,
    instances: int = 1,
    env: dict[str, str] | None = None,
    credentials: str | None = "azurite-credentials",
    liveness: dict[str, int] | None = None,
) -> dict[str, Any]:
    model: dict[str, Any] = {"path": model_uri}
    if credentials:
        model["credentialsSecretRef"] = {"name": credentials}
    spec: dict[str, Any] = {
        "endpointName": endpoint_name,
        "model": model,
        "codeConfiguration": {"configMap": {"name": "score"}, "scoringScript": "score.py"},
        "instanceType": INSTANCE_TYPE,
        "instanceCount": instances,
        "readinessProbe": {"initialDelay": 1, "period": 1, "failureThreshold": 1, "timeout": 2},
        "requestSettings": {"maxConcurrentRequestsPerInstance": 4, "maxQueueWaitMs": 2000},
    }
    if env:
        spec["environmentVariables"] = env
    if liveness:
        spec["livenessProbe"] = liveness
    return {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "OnlineDeployment", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


def keys(cluster: Any, ns: str, endpoint_name: str) -> dict[str, str]:
    """The endpoint's ``primaryKey``/``secondaryKey`` from the Secret the operator manages."""
    data = cluster.kubectl_json("get", "secret", f"{endpoint_name}-keys", "-n", ns)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def post(url: str, row: Any, key: str | None, **headers: str) -> httpx.Response:
    """POST ``{"data": row}`` with the key as a Bearer token (none: no Authorization header)."""
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(url, json={"data": row}, headers=headers, timeout=15)


def ready(cluster: Any, ns: str, endpoint_name: str, *deployments: str, timeout: float = 300) -> None:
    """Wait for each deployment, then the endpoint, to report Ready=True for their generation."""
    from tests.integration.conftest import wait_condition

    for d in deployments:
        wait_condition(cluster, "onlinedeployment", d, ns, "Ready", timeout=timeout)
    wait_condition(cluster, "onlineendpoint", endpoint_name, ns, "Ready", timeout=timeout)


def gateway_errors(cluster: Any, limit: int = 10) -> str:
    """The gateway's last 5xx answers from Traefik's access log, one line each, for a failure message.

    Each line: time, the status sent to the client, what the pod answered (``0``: nothing -- the
    connection to the pod was refused, reset or closed), the pod address, the path and the
    duration. Empty when the log has no 5xx (or the cluster keeps no such log).
    """
    from mlendpoints_dev import gateway

    state_dir = getattr(cluster, "state_dir", None)
    path = gateway.access_log_path(state_dir) if state_dir is not None else None
    if path is None or not path.is_file():
        return ""
    lines = []
    for raw in path.read_text().splitlines()[-limit:]:
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        lines.append(
            f"{e.get('StartUTC')} {e.get('DownstreamStatus')} (pod answered {e.get('OriginStatus')}) "
            f"from {e.get('ServiceAddr') or '-'} {e.get('RequestMethod')} {e.get('RequestPath')} "
            f"in {int(e.get('Duration', 0)) / 1e6:.1f} ms"
        )
    return "\ngateway 5xx (Traefik access log):\n" + "\n".join(lines) if lines else ""


def score_url(gateway_url: str, namespace: str, endpoint_name: str) -> str:
    return f"{gateway_url}/endpoints/{namespace}/{endpoint_name}/score"


@dataclass
class Load:
    """``rate`` requests/s to ``url`` from a few threads until stopped (at most ``max_seconds``).

    Every non-200 reply and every transport error is kept in ``failures`` (time, detail);
    ``served`` counts answers by the deployment that gave them (told apart by prediction value).
    """

    url: str
    key: str
    body: dict[str, Any]
    who: dict[float, str]
    rate: float = 60.0
    max_seconds: float = 120.0
    threads: int = 6
    sent: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)
    served: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        self._t0 = time.monotonic()
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(30)

    def achieved_rate(self) -> float:
        return self.sent / max(1e-9, time.monotonic() - self._t0)

    def _run(self, index: int) -> None:
        interval = self.threads / self.rate
        next_at = time.monotonic() + index * interval / self.threads
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() - self._t0 < self.max_seconds:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at += interval
                t = time.monotonic() - self._t0
                try:
                    r = client.post(self.url, json=self.body, headers=headers)
                    detail = None if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:200]}"
                    who = self.who.get(round(float(r.json()[0]), 6), "?") if r.status_code == 200 else None
                except (httpx.HTTPError, ValueError) as e:
                    detail, who = f"{type(e).__name__}: {e}", None
                with self._lock:
                    self.sent += 1
                    if detail is not None:
                        self.failures.append((round(t, 2), detail))
                    elif who is not None:
                        self.served[who] += 1


def follow_logs(cluster: Any, namespace: str, pod: str, into: Path) -> subprocess.Popen[bytes]:
    """``kubectl logs -f`` of ``pod``'s scoring container into the file ``into``, in the background.

    The process ends with the container (its log then holds the shutdown lines, which are gone
    with the pod's directory once the pod is deleted); ``terminate()`` it when done.
    """
    from mlendpoints.render.pod import CONTAINER

    kubectl = [str(cluster.bin("kubectl")), f"--kubeconfig={cluster.kubeconfig}"]
    out = into.open("wb")
    try:
        return subprocess.Popen(
            [*kubectl, "logs", "-f", "-n", namespace, pod, "-c", CONTAINER],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=cluster.env(),
        )
    finally:
        out.close()
