"""ModelMonitor on a real control plane: its CronJob, and a finished run's result in status, Events and metrics.

The local control plane has no kubelet that runs containers, so the test plays the kubelet for one
run: it takes the container command from the CronJob the operator created, runs it here (the same
``mlendpoints monitor drift``, on payload files written by the runtime's collector and a training
table, with paths under a temporary folder), then creates the run's Pod and writes the
termination message into its status, as a kubelet would. Everything after that is the operator's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlendpoints.runtime import config
from mlendpoints.runtime.collector import Collector, Item
from mlendpoints.runtime.metrics import Registry
from mlendpoints_dev import kstatus
from tests.integration.conftest import get, wait_for
from tests.integration.test_online import API

pytestmark = pytest.mark.usefixtures("operator")


def _tables(n: int) -> tuple[pd.DataFrame, list[list[float]]]:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.normal(50, 5, n)})
    prod = [[float(a), float(i)] for a, i in zip(rng.normal(55, 10, n), rng.normal(50, 5, n), strict=True)]
    return train, prod  # age shifted by 1.5 standard deviations, income not


def _collect(dest: Path, rows: list[list[float]], ns: str) -> None:
    settings = config.from_env(
        {},
        collector_enabled=True,
        collector_destination=f"file://{dest}",
        endpoint_name="ep1",
        deployment_name="blue",
    )
    collector = Collector(settings, Registry())
    collector.start()
    for i in range(0, len(rows), 10):
        body = json.dumps({"data": rows[i : i + 10]}).encode()
        collector.offer(
            Item(
                time.time(),
                f"{ns}-{i}",
                "/score",
                200,
                0.002,
                body,
                b"application/json",
                b"[0]",
                b"application/json",
            )
        )
    collector.close()


def _run_like_a_kubelet(cron: dict[str, Any], work: Path) -> str:
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    command = [str(work / "drift") if a == "/tmp/drift" else a for a in container["command"]]
    command = [str(work / "termination-log") if a == "/dev/termination-log" else a for a in command]
    assert command[:3] == ["mlendpoints", "monitor", "drift"]
    proc = subprocess.run(
        [sys.executable, "-m", "mlendpoints", *command[1:]], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return (work / "termination-log").read_text()


def test_monitor_cron_job_and_run_result(cluster: Any, namespace: str, operator: Any, tmp_path: Path) -> None:
    ns = namespace
    train, prod = _tables(400)
    train.to_csv(tmp_path / "train.csv", index=False)
    _collect(tmp_path / "payloads", prod, ns)
    cluster.apply(
        [
            {
                "apiVersion": API,
                "kind": "OnlineEndpoint",
                "metadata": {"name": "ep1", "namespace": ns},
                "spec": {},
            },
            {
                "apiVersion": API,
                "kind": "OnlineDeployment",
                "metadata": {"name": "blue", "namespace": ns},
                "spec": {
                    "endpointName": "ep1",
                    "model": {"path": "pvc://models/m/", "type": "mlflow"},
                    "dataCollector": {"enabled": True, "destination": f"file://{tmp_path}/payloads"},
                },
            },
            {
                "apiVersion": API,
                "kind": "ModelMonitor",
                "metadata": {"name": "drift1", "namespace": ns},
                "spec": {
                    "endpointName": "ep1",
                    "deploymentName": "blue",
                    "schedule": "0 6 * * *",
                    "dataDrift": {
                        "baseline": {"path": f"file://{tmp_path}/train.csv"},
                        "targetColumns": ["age", "income"],
                    },
                },
            },
        ]
    )
    cron = wait_for(lambda: get(cluster, "cronjob", "drift1-drift", ns), what="the monitor's CronJob")
    assert cron["metadata"]["ownerReferences"][0]["kind"] == "ModelMonitor"
    wait_for(
        lambda: kstatus.compute(get(cluster, "mmon", "drift1", ns) or {}) == kstatus.CURRENT,
        what="monitor Ready",
    )

    message = _run_like_a_kubelet(cron, tmp_path)
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] | {
        "job-name": "drift1-drift-1"
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "drift1-drift-1-abcde", "namespace": ns, "labels": labels},
        # no scheduler picks it up, so no (kwok) node plays kubelet for it: its status is ours to write
        "spec": {
            "restartPolicy": "Never",
            "schedulerName": "not-scheduled",
            "containers": [{"name": "drift", "image": "runtime:test"}],
        },
    }
    cluster.apply(pod)
    finished = "2026-11-29T06:00:30Z"
    status = {
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {
                    "name": "drift", "image": "runtime:test", "imageID": "", "ready": False, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": message,
                                             "startedAt": "2026-11-29T06:00:00Z", "finishedAt": finished}},
                }
            ],
        }
    }  # fmt: skip
    cluster.kubectl(
        "patch",
        "pod",
        pod["metadata"]["name"],
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )

    def last_run() -> dict[str, Any] | None:
        run = ((get(cluster, "mmon", "drift1", ns) or {}).get("status") or {}).get("lastRun")
        return run if run and run.get("time") == finished else None

    run = wait_for(last_run, what="status.lastRun from the finished pod")
    assert run["result"] == "ok"
    assert run["driftedFeatures"] == ["age"]
    assert {f["name"] for f in run["features"]} == {"age", "income"}
    body = get(cluster, "mmon", "drift1", ns)
    assert body is not None
    assert body["status"]["drifted"] == 1
    events = json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    drift_events = [
        e for e in events if e["reason"] == "DriftDetected" and e["involvedObject"]["name"] == "drift1"
    ]
    assert drift_events
    assert "age" in drift_events[0]["message"]
    metrics = operator.metrics()
    assert (
        f'mlendpoints_drift_features_drifted{{deployment="blue",monitor="drift1",namespace="{ns}"}} 1.0'
        in metrics
    )
    assert f'feature="age",metric="normalized_wasserstein",monitor="drift1",namespace="{ns}"' in metrics
