"""Monitoring renders: the collector's env contract (read back by the runtime) and the ModelMonitor CronJob."""

from __future__ import annotations

from typing import Any

import pytest

from mlendpoints.api.v1alpha1 import ModelMonitor
from mlendpoints.render import RenderError
from mlendpoints.render import monitor as render_monitor
from mlendpoints.runtime import config
from mlendpoints.status import monitor as monitor_status
from tests.unit.render.builders import NAMESPACE, container, deployment, env_of

COLLECTING = {
    "enabled": True,
    "samplingRate": 0.25,
    "destination": "az://payloads/online",
    "collections": {"modelOutputs": {"enabled": False}},
    "rollingRate": "hour",
    "binaryPayloads": "skip",
}


def monitor(**spec: Any) -> ModelMonitor:
    base: dict[str, Any] = {
        "endpointName": "ep1",
        "deploymentName": "blue",
        "dataDrift": {"baseline": {"path": "az://datasets/train.parquet"}},
    }
    return ModelMonitor.model_validate(
        {"metadata": {"name": "drift1", "namespace": NAMESPACE, "uid": "uid-mon"}, "spec": base | spec}
    )


def test_the_runtime_reads_what_the_renderer_writes() -> None:
    env = env_of(container(deployment(dataCollector=COLLECTING)))
    settings = config.from_env(env)
    assert settings.collector_enabled
    assert settings.collector_sampling_rate == 0.25
    assert settings.collector_destination == "az://payloads/online"
    assert settings.collections == ("model_inputs",)
    assert settings.collector_rolling_rate == "hour"
    assert settings.collector_binary == "skip"
    assert (settings.endpoint_name, settings.deployment_name) == ("ep1", "blue")
    assert not config.from_env(env_of(container(deployment()))).collector_enabled


def test_cron_job_runs_drift_on_the_collected_inputs() -> None:
    mon = monitor(
        schedule="30 2 * * *",
        timeZone="Europe/Paris",
        dataDrift={
            "baseline": {"path": "az://datasets/train.parquet"},
            "lookbackWindowHours": 6,
            "features": ["age", "color"],
            "targetColumns": ["age", "color"],
            "metricThresholds": {"numerical": {"metric": "kolmogorov_smirnov", "threshold": 0.05}},
        },
        credentialsSecretRef={"name": "storage"},
    )
    cron = render_monitor.cron_job(mon, deployment(dataCollector=COLLECTING), image="runtime:1")
    assert cron["metadata"]["name"] == "drift1-drift"
    assert cron["metadata"]["ownerReferences"][0]["kind"] == "ModelMonitor"
    assert cron["metadata"]["labels"]["mlendpoints.io/owner-uid"] == "uid-mon"
    spec = cron["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        "30 2 * * *",
        "Europe/Paris",
        "Forbid",
    )
    pod = spec["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["mlendpoints.io/monitor"] == "drift1"
    (c,) = pod["spec"]["containers"]
    args = c["command"]
    assert args[:3] == ["mlendpoints", "monitor", "drift"]

    def flag(name: str) -> str:
        return str(args[args.index(name) + 1])

    assert flag("--target") == "az://payloads/online/ep1/blue/model_inputs"
    assert flag("--baseline") == "az://datasets/train.parquet"
    assert flag("--window-hours") == "6"
    assert flag("--features") == "age,color"
    assert flag("--numeric-metric") == "kolmogorov_smirnov"
    assert flag("--threshold") == "kolmogorov_smirnov=0.05"
    assert flag("--termination-message") == "/dev/termination-log"
    assert "--exit-zero" in args
    assert c["envFrom"] == [{"secretRef": {"name": "storage"}}]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_pvc_destination_is_mounted_read_only() -> None:
    dep = deployment(dataCollector={"enabled": True, "destination": "pvc://payloads/online"})
    cron = render_monitor.cron_job(monitor(), dep, image="runtime:1")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["command"][c["command"].index("--target") + 1] == (
        "file:///var/azureml-app/data-collector/ep1/blue/model_inputs"
    )
    mount = next(m for m in c["volumeMounts"] if m["name"] == "payloads")
    assert mount == {
        "name": "payloads",
        "mountPath": "/var/azureml-app/data-collector",
        "readOnly": True,
        "subPath": "online",
    }
    vol = next(v for v in pod["volumes"] if v["name"] == "payloads")
    assert vol["persistentVolumeClaim"] == {"claimName": "payloads", "readOnly": True}


@pytest.mark.parametrize(
    ("collector", "message"),
    [
        (None, "has no dataCollector with a destination"),
        ({"enabled": True}, "has no dataCollector with a destination"),
        (
            {"enabled": True, "destination": "s3://b/p", "collections": {"modelInputs": {"enabled": False}}},
            "does not collect model_inputs",
        ),
    ],
)
def test_no_production_data_is_a_clear_error(collector: dict[str, Any] | None, message: str) -> None:
    dep = deployment(dataCollector=collector) if collector else deployment()
    with pytest.raises(RenderError, match=message):
        render_monitor.cron_job(monitor(), dep, image="runtime:1")


def pod(name: str, finished: str, exit_code: int, message: str) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "finishedAt": finished, "message": message}
    return {
        "metadata": {"name": name, "labels": {"job-name": f"job-{name}"}},
        "status": {"containerStatuses": [{"name": "drift", "state": {"terminated": terminated}}]},
    }


def test_last_run_comes_from_the_latest_finished_pod() -> None:
    from mlendpoints.monitoring import cli, drift, payloads

    result = drift.Result(
        "ok",
        [
            drift.FeatureResult("age", "numeric", "normalized_wasserstein", "ok", 0.9, 0.1, True),
            drift.FeatureResult("score", "numeric", "normalized_wasserstein", "ok", 0.01, 0.1, False),
        ],
        100,
        50,
    )
    summary = cli.summary(result, payloads.Window())
    running = {
        "metadata": {"name": "p3"},
        "status": {"containerStatuses": [{"name": "drift", "state": {"running": {}}}]},
    }
    pods = [
        pod("p1", "2026-11-29T06:00:10Z", 0, "{}"),
        pod("p2", "2026-11-30T06:00:12Z", 0, summary),
        running,
    ]
    run = monitor_status.last_run(pods)
    assert run is not None
    assert (run["time"], run["jobName"], run["result"]) == ("2026-11-30T06:00:12Z", "job-p2", "ok")
    assert run["driftedFeatures"] == ["age"]
    assert run["features"][0] == {
        "name": "age",
        "metric": "normalized_wasserstein",
        "score": 0.9,
        "threshold": 0.1,
        "drifted": True,
    }
    failed = monitor_status.last_run([pod("p4", "2026-12-01T06:00:00Z", 2, "az://x: no such file")])
    assert failed is not None
    assert (failed["result"], failed["message"]) == ("failed", "az://x: no such file")
    assert monitor_status.last_run([running]) is None


def test_summary_fits_a_termination_message() -> None:
    from mlendpoints.monitoring import cli, drift, payloads

    features = [
        drift.FeatureResult(
            f"feature_{i:03d}_" + "x" * 40, "numeric", "jensen_shannon", "ok", 0.5, 0.1, i < 3
        )
        for i in range(200)
    ]
    text = cli.summary(drift.Result("ok", features, 10, 10), payloads.Window())
    assert len(text.encode()) <= cli.SUMMARY_LIMIT
    assert '"truncated":true' in text
    assert text.count("feature_") >= 3  # drifted features come first and survive the cut
