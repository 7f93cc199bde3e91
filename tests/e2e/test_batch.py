"""Batch scoring for real: a BatchJob's Indexed Job runs its pods on the process nodes.

The pods run the batch runner with a scoring script (ConfigMap) and the diabetes model from
Azurite; inputs are CSV files in Azurite and the output is an ``az://`` folder, read back here
with adlfs. A good job ends ``Succeeded`` with its counts and ``predictions.csv`` holding one
line per file in input order; a script that raises on one file with ``errorThreshold: 0`` ends
``Failed`` with the condition quoting ``job_error.txt``'s first error. A job created with
``mlendpoints batch invoke --stream`` reads its inputs from a PersistentVolumeClaim (the dev
cluster's ``dev-hostpath`` class: a host folder) and writes its outputs to the same claim; the
command prints the job's phase and progress as they change and exits 0 when it succeeds.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import helpers
from tests.integration.conftest import condition, get, wait_for

pytestmark = pytest.mark.timeout(420)

API = "mlendpoints.io/v1alpha1"

BATCH_PY = """\
import os
import joblib
import pandas as pd

def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))

def run(mini_batch):
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        if name.startswith("bad"):
            raise ValueError(f"e2e: cannot score {name}")
        frame = pd.read_csv(path)
        out.append([name, round(float(model.predict(frame.to_numpy())[0]), 6)])
    return out
"""


def _fs(conn: str) -> Any:
    import adlfs

    return adlfs.AzureBlobFileSystem(connection_string=conn)


def _write_inputs(folder: Path, names: list[str]) -> dict[str, float]:
    """One single-row diabetes CSV per name (``/`` in a name makes sub-folders) in ``folder``;
    returns name -> the blue model's prediction."""
    from sklearn.datasets import load_diabetes

    from mlendpoints_dev import demoscore

    model = demoscore._diabetes_models()["blue"]
    x = load_diabetes(as_frame=True).data
    expected = {}
    for i, name in enumerate(names):
        frame = x.iloc[[i]]
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / name, index=False)
        expected[name] = round(float(model.predict(frame.to_numpy())[0]), 6)
    assert len(set(expected.values())) == len(names)
    return expected


def _inputs(conn: str, prefix: str, names: list[str]) -> dict[str, float]:
    """One single-row diabetes CSV per name under ``az://e2e/<prefix>/``; returns name -> prediction."""
    from mlendpoints_dev import azurite

    with tempfile.TemporaryDirectory() as tmp:
        expected = _write_inputs(Path(tmp), names)
        azurite.upload(conn, Path(tmp), helpers.CONTAINER, prefix)
    return expected


def _setup(cluster: Any, ns: str, model_uri: str) -> None:
    secret = {"name": "azurite-credentials"}
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "batch-score"},
             "data": {"batch.py": BATCH_PY}},
            {"apiVersion": API, "kind": "BatchEndpoint", "metadata": {"name": "diabetes"},
             "spec": {"defaults": {"deploymentName": "script"}}},
            {"apiVersion": API, "kind": "BatchDeployment", "metadata": {"name": "script"},
             "spec": {"endpointName": "diabetes",
                      "model": {"path": model_uri, "credentialsSecretRef": secret},
                      "codeConfiguration": {"configMap": {"name": "batch-score"}, "scoringScript": "batch.py"},
                      "instanceType": helpers.INSTANCE_TYPE,
                      "settings": {"miniBatchSize": 2, "instanceCount": 2, "maxConcurrencyPerInstance": 1,
                                   "retrySettings": {"maxRetries": 0, "timeout": 60}}}},
        ],
        "-n", ns,
    )  # fmt: skip


def _job(name: str, inputs: str, output: str, **overrides: Any) -> dict[str, Any]:
    secret = {"name": "azurite-credentials"}
    spec: dict[str, Any] = {
        "endpointName": "diabetes",
        "inputs": {"rows": {"type": "uri_folder", "path": inputs, "credentialsSecretRef": secret}},
        "output": {"path": output, "credentialsSecretRef": secret},
    }
    if overrides:
        spec["overrides"] = overrides
    return {"apiVersion": API, "kind": "BatchJob", "metadata": {"name": name}, "spec": spec}


def _finished(cluster: Any, ns: str, name: str, timeout: float = 300) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = get(cluster, "batchjob", name, ns) or {}
        phase = (job.get("status") or {}).get("phase")
        return job if phase in ("Succeeded", "Failed", "Canceled") else None

    try:
        result: dict[str, Any] = wait_for(done, timeout=timeout, what=f"BatchJob {name} to finish")
    except Exception:
        pods = cluster.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False).stdout
        print(f"BatchJob {name}: {(get(cluster, 'batchjob', name, ns) or {}).get('status')}\npods:\n{pods}")
        raise
    return result


def test_batch_job_runs_on_process_nodes_and_writes_predictions_to_azurite(
    cluster: Any,
    ns: str,
    addons: dict[str, Any],
    scoring: dict[str, Any],
    process_nodes: list[dict[str, Any]],
) -> None:
    conn = addons["azurite"]["connection_string"]
    names = ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv"]
    expected = _inputs(conn, f"batch/{ns}/in", names)
    _setup(cluster, ns, scoring["models"]["blue"])
    out = f"{helpers.CONTAINER}/batch/{ns}/out"
    cluster.apply(_job("good", f"az://{helpers.CONTAINER}/batch/{ns}/in/", f"az://{out}/"), "-n", ns)

    # The operator's Indexed Job: completions and parallelism from instanceCount.
    k8s_job = wait_for(
        lambda: (cluster.kubectl_json("get", "jobs", "-n", ns, "-l", "mlendpoints.io/batch-job=good")["items"]
                 or [None])[0],
        timeout=60, what="the Indexed Job",
    )  # fmt: skip
    assert k8s_job["spec"]["completionMode"] == "Indexed"
    assert (k8s_job["spec"]["completions"], k8s_job["spec"]["parallelism"]) == (2, 2)

    job = _finished(cluster, ns, "good")
    status = job["status"]
    assert status["phase"] == "Succeeded", status
    assert (condition(job, "Ready") or {}).get("status") == "True", status
    # 5 files in mini-batches of 2: 3 mini-batches over 2 pods.
    assert status["progress"] == {"totalMiniBatches": 3, "completedMiniBatches": 3, "failedMiniBatches": 0,
                                  "succeededItems": 5, "failedItems": 0}, status  # fmt: skip
    assert status["outputUri"].rstrip("/") == f"az://{out}"

    # The pods really ran (on the process nodes, each index to completion).
    pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/batch-job=good")["items"]
    process_node_names = {n["metadata"]["name"] for n in process_nodes}
    assert len(pods) >= 2, pods
    assert {p["spec"].get("nodeName") for p in pods} <= process_node_names, pods
    assert {p["status"]["phase"] for p in pods} == {"Succeeded"}, [p["status"] for p in pods]

    fs = _fs(conn)
    lines = fs.cat_file(f"{out}/predictions.csv").decode().splitlines()
    assert [line.split(" ")[0] for line in lines] == names, lines  # input order, whatever the pods' timing
    for line in lines:
        name, value = line.split(" ")
        assert float(value) == pytest.approx(expected[name], abs=1e-5), line
    user_logs = {Path(p).name for p in fs.ls(f"{out}/logs/user", detail=False)}
    assert {"job_result.txt", "job_progress_overview.txt"} <= user_logs, user_logs
    result = fs.cat_file(f"{out}/logs/user/job_result.txt").decode()
    assert "result: Succeeded" in result, result
    assert "items: 5 succeeded, 0 failed" in result, result


def test_failing_script_fails_the_job_quoting_the_first_error(
    cluster: Any, ns: str, addons: dict[str, Any], scoring: dict[str, Any]
) -> None:
    conn = addons["azurite"]["connection_string"]
    _inputs(conn, f"batch/{ns}/in", ["a.csv", "bad.csv", "c.csv"])
    _setup(cluster, ns, scoring["models"]["blue"])
    out = f"{helpers.CONTAINER}/batch/{ns}/out"
    cluster.apply(
        _job("boom", f"az://{helpers.CONTAINER}/batch/{ns}/in/", f"az://{out}/",
             miniBatchSize=1, instanceCount=1, errorThreshold=0),
        "-n", ns,
    )  # fmt: skip
    job = _finished(cluster, ns, "boom")
    status = job["status"]
    assert status["phase"] == "Failed", status
    stalled = condition(job, "Stalled") or {}
    assert (stalled.get("status"), stalled.get("reason")) == ("True", "JobFailed"), status
    assert "ValueError: e2e: cannot score bad.csv" in stalled["message"], stalled

    fs = _fs(conn)
    errors = fs.cat_file(f"{out}/logs/user/job_error.txt").decode()
    assert "ValueError: e2e: cannot score bad.csv" in errors, errors
    details = fs.ls(f"{out}/logs/user/error", detail=False)
    assert details, "no per-mini-batch error detail"
    assert status["progress"]["failedItems"] >= 1, status


def _claim_folder(cluster: Any, ns: str, name: str) -> Path:
    """A ``dev-hostpath`` PersistentVolumeClaim, once bound: the host folder behind its volume."""
    from mlendpoints_dev.nodeagent.provisioner import STORAGE_CLASS

    cluster.apply(
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
         "spec": {"storageClassName": STORAGE_CLASS, "accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": "1Gi"}}}},
        "-n", ns,
    )  # fmt: skip
    claim = wait_for(
        lambda: (c := get(cluster, "pvc", name, ns)) and (c.get("status") or {}).get("phase") == "Bound" and c,
        timeout=60, what=f"PersistentVolumeClaim {name} Bound",
    )  # fmt: skip
    volume = get(cluster, "pv", claim["spec"]["volumeName"]) or {}
    return Path(volume["spec"]["hostPath"]["path"])


def test_invoke_stream_scores_a_claim_into_the_same_claim(
    cluster: Any, ns: str, scoring: dict[str, Any], process_nodes: list[dict[str, Any]]
) -> None:
    folder = _claim_folder(cluster, ns, "data")
    names = ["a.csv", "b.csv", "nested/c.csv", "d.csv"]
    expected = _write_inputs(folder / "heart" / "in", names)
    _setup(cluster, ns, scoring["models"]["blue"])

    cmd = [sys.executable, "-m", "mlendpoints", "batch", "invoke", "diabetes",
           "--input", "pvc://data/heart/in", "--output", "pvc://data/scores/heart", "--name", "on-claim",
           "--set", "instanceCount=1", "--stream", "-n", ns, "--kubeconfig", str(cluster.kubeconfig)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "batchjob.mlendpoints.io/on-claim created", lines
    # Streamed: the job was seen before it finished, then finished with its counts and outputs.
    phases = [line.split("phase=")[1].split()[0] for line in lines if "phase=" in line]
    assert phases[-1] == "Succeeded", lines
    assert len(phases) >= 2, lines
    assert set(phases[:-1]) <= {"-", "Pending", "Running"}, lines
    assert "progress=2/2" in [w for line in lines if "phase=Succeeded" in line for w in line.split()], lines
    assert lines[-1] == "outputs: pvc://data/scores/heart", lines

    job = get(cluster, "batchjob", "on-claim", ns) or {}
    assert job["status"]["progress"]["succeededItems"] == 4, job["status"]
    # The pod (running as the runtime user) made the output folders in the claim.
    out = folder / "scores" / "heart"
    predictions = (out / "predictions.csv").read_text().splitlines()
    assert [line.split(" ")[0] for line in predictions] == ["a.csv", "b.csv", "d.csv", "c.csv"], predictions
    for line in predictions:
        name, value = line.split(" ")
        assert float(value) == pytest.approx(expected[name if name != "c.csv" else "nested/c.csv"], abs=1e-5)
    result = (out / "logs" / "user" / "job_result.txt").read_text()
    assert "result: Succeeded" in result, result
    assert "items: 4 succeeded, 0 failed" in result, result
    assert (out / "logs" / "user" / "job_progress_overview.txt").read_text().startswith("2 of 2 mini-batches")
    # The inputs were mounted read-only and are untouched; deleting the job keeps the outputs.
    assert sorted(p.name for p in (folder / "heart" / "in").rglob("*.csv")) == [
        "a.csv",
        "b.csv",
        "c.csv",
        "d.csv",
    ]
    cluster.kubectl("delete", "batchjob", "on-claim", "-n", ns, "--wait=true")
    assert (out / "predictions.csv").read_text().splitlines() == predictions
