"""ModelMonitor -> CronJob running ``mlendpoints monitor drift`` on the deployment's collected inputs.

The production data is ``<dataCollector.destination>/<endpoint>/<deployment>/model_inputs`` (the
runtime's layout); a ``pvc://`` destination is mounted read-only at :data:`PAYLOADS_DIR`. The job
runs the runtime image (which carries the ``monitoring`` extra), writes its full report to
``/tmp`` and a compact JSON summary to ``/dev/termination-log``; the operator reads that from the
finished pod into ``status.lastRun`` (``status/monitor.py``). Drift is a result, not a failure:
the command runs with ``--exit-zero``, so only errors fail (and retry once).
"""

from __future__ import annotations

from mlendpoints.api import collector as dc
from mlendpoints.api.v1alpha1.monitor import ModelMonitor, ModelMonitorSpec
from mlendpoints.api.v1alpha1.online import OnlineDeployment
from mlendpoints.render import meta, sources
from mlendpoints.render.errors import RenderError
from mlendpoints.render.labels import MANAGED_BY, OWNER_UID, PART_OF
from mlendpoints.render.names import fit
from mlendpoints.render.pod import RUNTIME_UID, TMP, container_security
from mlendpoints.render.types import Obj

PAYLOADS_DIR = "/var/azureml-app/data-collector"
#: Pod label naming the monitor; the operator finds finished runs by it.
MONITOR_LABEL = "mlendpoints.io/monitor"
COMPONENT = "monitor"


def cron_job_name(monitor: str) -> str:
    return fit(f"{monitor}-drift", 52)  # CronJob names are limited to 52 characters


def production_data(mon: ModelMonitor, dep: OnlineDeployment) -> tuple[str, list[Obj], list[Obj]]:
    """``(target URI, volumes, mounts)`` of the deployment's collected model inputs.

    Raises:
        RenderError: the deployment collects no inputs to a destination.
    """
    collector = dep.spec.data_collector
    name = f"OnlineDeployment {dep.metadata.name!r}"
    if collector is None or not collector.enabled or not collector.destination:
        raise RenderError(f"spec.deploymentName: {name} has no dataCollector with a destination to monitor")
    if not collector.collections.model_inputs.enabled:
        raise RenderError(f"spec.deploymentName: {name} does not collect model_inputs")
    layout = f"{mon.spec.endpoint_name}/{mon.spec.deployment_name}/{dc.MODEL_INPUTS}"
    if not collector.destination.startswith("pvc://"):
        return f"{collector.destination.rstrip('/')}/{layout}", [], []
    vol, sub = sources.pvc_volume(collector.destination, volume="payloads", what="dataCollector.destination")
    mount: Obj = {"name": "payloads", "mountPath": PAYLOADS_DIR, "readOnly": True}
    if sub:
        mount["subPath"] = sub
    return f"file://{PAYLOADS_DIR}/{layout}", [vol], [mount]


def arguments(spec: ModelMonitorSpec, target: str) -> list[str]:
    """``mlendpoints monitor drift`` flags for ``spec`` (see ``monitoring/cli.py``)."""
    signal = spec.data_drift
    thresholds = signal.metric_thresholds
    args = ["--baseline", signal.baseline.path, "--target", target]
    args += ["--window-hours", str(signal.lookback_window_hours)]
    if signal.baseline.window_start:
        args += ["--baseline-start", signal.baseline.window_start]
    if signal.baseline.window_end:
        args += ["--baseline-end", signal.baseline.window_end]
    if signal.features:
        args += ["--features", ",".join(signal.features)]
    if signal.target_columns:
        args += ["--target-columns", ",".join(signal.target_columns)]
    args += ["--numeric-metric", thresholds.numerical.metric.value]
    args += ["--categorical-metric", thresholds.categorical.metric.value]
    for chosen in (thresholds.numerical, thresholds.categorical):
        if chosen.threshold is not None:
            args += ["--threshold", f"{chosen.metric.value}={chosen.threshold:g}"]
    args += ["--output", f"{TMP}/drift", "--termination-message", "/dev/termination-log", "--exit-zero"]
    return args


def _drift_pod(
    spec: ModelMonitorSpec, *, image: str, target: str, volumes: list[Obj], mounts: list[Obj], labels: Obj
) -> Obj:
    """The pod template of one drift run: ``mlendpoints monitor drift`` over ``target``, non-root."""
    container: Obj = {
        "name": "drift",
        "image": image,
        "imagePullPolicy": sources.image_pull_policy(image),
        "command": ["mlendpoints", "monitor", "drift", *arguments(spec, target)],
        "env": [{"name": "HOME", "value": TMP}],
        "volumeMounts": [{"name": "tmp", "mountPath": TMP}, *mounts],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.credentials_secret_ref is not None:
        container["envFrom"] = [{"secretRef": {"name": spec.credentials_secret_ref.name}}]
    pod: Obj = {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {}}, *volumes],
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUNTIME_UID,
                "runAsGroup": RUNTIME_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "automountServiceAccountToken": False,
        },
    }
    return pod


def cron_job(mon: ModelMonitor, dep: OnlineDeployment, *, image: str) -> Obj:
    """The CronJob of ``mon`` (owned by it).

    Raises:
        RenderError: no production data (see :func:`production_data`), or the monitor body has no
            namespace/uid.
    """
    spec = mon.spec
    target, volumes, mounts = production_data(mon, dep)
    name = cron_job_name(mon.metadata.name)
    _, _, uid = meta.identity(mon)
    labels = {
        "app.kubernetes.io/name": "mlendpoints-monitor",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        MONITOR_LABEL: mon.metadata.name,
    }
    pod_labels = dict(labels)
    labels[OWNER_UID] = uid  # the CronJob's, for the reconciler's ownership check
    pod = _drift_pod(spec, image=image, target=target, volumes=volumes, mounts=mounts, labels=pod_labels)
    cron: Obj = {
        "schedule": spec.schedule,
        "suspend": spec.suspend,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": pod_labels},
            "spec": {"backoffLimit": 1, "activeDeadlineSeconds": 3600, "template": pod},
        },
    }
    if spec.time_zone:
        cron["timeZone"] = spec.time_zone
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta.object_meta(name, owner=mon, labels=labels),
        "spec": cron,
    }
