"""The operator's real scoring pod (from ``mlendpoints render``) runs on a process node and scores.

No operator runs here: the objects ``mlendpoints render`` prints for an OnlineDeployment (keys
Secret, Service, Deployment) are applied as they are, with a real key in place of the
placeholder. The model comes from a PVC bound to a host-folder PV; the code from a ConfigMap.
The Deployment's pod must become Ready on a process node and answer ``/score`` on its pod IP
with the key, and refuse a request without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints_dev import KubeCluster
from mlendpoints_dev.nodeagent import KIND_LABEL, TAINT_KEY
from tests.nodeagent.test_process_nodes import cstatus, ready, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="process nodes need root (network namespaces)")

SCORE = """
import json, os
def init():
    global files
    files = sorted(os.listdir(os.environ["AZUREML_MODEL_DIR"]))
def run(raw_data):
    data = json.loads(raw_data)["data"]
    return {"sum": sum(data), "model_files": files}
"""


def manifests(model_claim: str) -> str:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "InstanceType", "metadata": {"name": "process"},
         "spec": {"nodeSelector": {KIND_LABEL: "process"},
                  "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
                  "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "echo-score"}, "data": {"score.py": SCORE}},
        {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "OnlineEndpoint", "metadata": {"name": "echo"},
         "spec": {"authMode": "key", "routing": {"type": "none"}}},
        {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "OnlineDeployment", "metadata": {"name": "blue"},
         "spec": {"endpointName": "echo", "model": {"path": f"pvc://{model_claim}/m1"},
                  "codeConfiguration": {"configMap": {"name": "echo-score"}, "scoringScript": "score.py"},
                  "instanceType": "process", "instanceCount": 1}},
    ]  # fmt: skip
    return yaml.safe_dump_all(docs)


def test_rendered_online_deployment_scores_on_a_process_node(
    cluster: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    model = tmp_path / "models" / "m1"
    model.mkdir(parents=True)
    (model / "weights.txt").write_text("42\n")
    src = tmp_path / "in.yaml"
    src.write_text(manifests("models"))
    rendered = subprocess.run(
        [sys.executable, "-m", "mlendpoints", "render", "-f", str(src), "-n", namespace],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    objs = [d for d in yaml.safe_load_all(rendered) if d]
    key = "k-" + os.urandom(8).hex()
    for o in objs:
        o["metadata"].pop("ownerReferences", None)  # no operator-made owners exist here
        if o["kind"] == "Secret":
            o.pop("data", None)
            o["stringData"] = dict.fromkeys(("primaryKey", "secondaryKey"), key)
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{namespace}-models"},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadOnlyMany"], "storageClassName": "",
                   "hostPath": {"path": str(tmp_path / "models")},
                   "claimRef": {"namespace": namespace, "name": "models"}}}  # fmt: skip
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "models"},
           "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "", "volumeName": f"{namespace}-models",
                    "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    cluster.apply(pv)
    try:
        cluster.apply(pvc, "-n", namespace)
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "echo-score"},
                       "data": {"score.py": SCORE}}, "-n", namespace)  # fmt: skip
        cluster.apply([o for o in objs if o["kind"] in ("Secret", "Service", "Deployment")], "-n", namespace)

        def ready_pod() -> dict[str, Any] | None:
            pods = cluster.kubectl_json(
                "get", "pods", "-n", namespace, "-l", "mlendpoints.io/deployment=blue"
            )
            return next((p for p in pods["items"] if ready(p)), None)

        pod = wait_for("the scoring pod Ready", ready_pod, timeout=180)
        assert pod["spec"]["nodeName"].startswith("process-node-")
        assert cstatus(pod, "scoring")["restartCount"] == 0
        ip = pod["status"]["podIP"]
        body = json.dumps({"data": [1, 2, 3]}).encode()
        req = urllib.request.Request(
            f"http://{ip}:5001/score", data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.loads(r.read())
        assert answer == {"sum": 6, "model_files": ["weights.txt"]}
        anonymous = urllib.request.Request(f"http://{ip}:5001/score", data=body,
                                           headers={"Content-Type": "application/json"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(anonymous, timeout=10)
        assert denied.value.code == 401
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=90s", check=False)
        cluster.kubectl("delete", "pv", f"{namespace}-models", "--ignore-not-found", check=False)
