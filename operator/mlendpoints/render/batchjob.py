"""BatchJob -> one Kubernetes Indexed Job running the batch runner (``mlendpoints batch run``).

* ``completions`` = ``parallelism`` = ``instanceCount`` (the job's override, else the
  deployment's): index ``k`` scores its deterministic share of the mini-batches (see
  :mod:`mlendpoints.batch.plan`); ``maxConcurrencyPerInstance`` worker processes run in each pod.
* Failures: the runner exits with :data:`~mlendpoints.batch.contract.EXIT_JOB_FAILED` when the job
  cannot succeed (init() raised, errorThreshold exceeded, unusable input/output); a
  ``podFailurePolicy`` rule fails the whole Job on that code instead of retrying it. Pods lost to
  node drains or evictions (condition ``DisruptionTarget``) are ignored, i.e. recreated without
  counting against ``backoffLimit``, and the new pod resumes from the output. Other failures
  (out of memory, a crash) are retried up to ``backoffLimit`` = 3 per index.
* Pods spread over nodes (topology spread by hostname), and take the deployment's image,
  model, code, resources/InstanceType and ``environmentVariables`` (the job's merged over them).
* Inputs and output: ``pvc://<claim>/<path>`` is mounted (inputs read-only); object storage URIs
  are passed to the runner, which reads and writes them through fsspec with the credentials of
  ``credentialsSecretRef`` (``envFrom``).
"""

from __future__ import annotations

import json

from mlendpoints.api.v1alpha1.batch import BatchDeployment, BatchJob, InputType
from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec
from mlendpoints.batch import contract
from mlendpoints.batch.settings import merge
from mlendpoints.render import env, labels, meta, names, networkpolicy, packages, pod, resources, sources
from mlendpoints.render.errors import RenderError
from mlendpoints.render.settings import RenderSettings
from mlendpoints.render.types import Obj

CONTAINER = "batch"
BATCH_JOB_LABEL = "mlendpoints.io/batch-job"
BATCH_DEPLOYMENT_LABEL = "mlendpoints.io/batch-deployment"
APP_NAME = "mlendpoints-batch"
MODEL_DIR = "/var/azureml-app/azureml-models"
INPUTS_DIR = "/mnt/batch/inputs"
OUTPUT_DIR = "/mnt/batch/output"
TERMINATION_LOG = "/dev/termination-log"
#: Pod retries per Job for crashes that are neither script errors nor node loss.
BACKOFF_PER_INDEX = 3


def job_name(batch_job: str) -> str:
    """The Kubernetes Job's name for a BatchJob."""
    return names.fit(f"batch-{batch_job}")


class _Layout:
    def __init__(self) -> None:
        self.volumes: list[Obj] = [{"name": "tmp", "emptyDir": {}}]
        self.mounts: list[Obj] = [{"name": "tmp", "mountPath": pod.TMP}]
        self.fetches: list[sources.Fetch] = []
        self.env_from: list[Obj] = []

    def secret(self, name: str | None) -> None:
        ref = {"secretRef": {"name": name}}
        if name and ref not in self.env_from:
            self.env_from.append(ref)


def _data_path(uri: str, *, volume: str, mount: str, layout: _Layout, what: str, read_only: bool) -> str:
    """Where the runner finds ``uri``: a mounted claim's path, or the URI itself."""
    if uri.startswith("azureml:"):
        raise RenderError(f"{what}: {uri!r} is an Azure ML data asset; target kubernetes needs a storage URI")
    if uri.startswith("pvc://"):
        vol, sub = sources.pvc_volume(uri, volume=volume, what=what, read_only=read_only)
        layout.volumes.append(vol)
        layout.mounts.append({"name": volume, "mountPath": mount, "readOnly": read_only})
        return f"{mount}/{sub}" if sub else mount
    if uri.startswith(("az://", "abfss://", "wasbs://", "s3://", "gs://")) or (
        read_only and uri.startswith(("https://", "http://"))
    ):
        return uri
    raise RenderError(f"{what}: {uri!r}: use pvc://, az://, abfss://, wasbs://, s3:// or gs://")


def _model_and_code(dep: BatchDeployment, layout: _Layout) -> dict[str, str]:
    spec = dep.spec
    creds = spec.model.credentials_secret_ref.name if spec.model.credentials_secret_ref else None
    out = {contract.MODEL_DIR: MODEL_DIR}
    layout_src = sources.source(spec.model.path, volume="model", mount_path=MODEL_DIR, what="model.path",
                                fetch_name="storage-initializer", fetch_dest=pod.MODEL_FETCH_DEST,
                                credentials_secret=creds)  # fmt: skip
    layout.volumes.append(layout_src.volume)
    layout.mounts.append(layout_src.mount)
    if layout_src.fetch:
        layout.fetches.append(layout_src.fetch)
    code = spec.code_configuration
    if code is None:
        return out
    out |= {contract.SOURCE_DIR: env.CODE_DIR, contract.ENTRY_SCRIPT: code.scoring_script}
    if code.config_map is not None:
        layout.volumes.append({"name": "code", "configMap": {"name": code.config_map.name}})
        layout.mounts.append({"name": "code", "mountPath": env.CODE_DIR, "readOnly": True})
    elif code.code is not None:
        src = sources.source(code.code, volume="code", mount_path=env.CODE_DIR, what="codeConfiguration.code",
                             fetch_name="code-initializer", fetch_dest=pod.CODE_FETCH_DEST,
                             credentials_secret=creds)  # fmt: skip
        layout.volumes.append(src.volume)
        layout.mounts.append(src.mount)
        if src.fetch:
            layout.fetches.append(src.fetch)
    return out


def _io(job: BatchJob, layout: _Layout) -> dict[str, str]:
    inputs = {}
    for n, (name, inp) in enumerate(sorted(job.spec.inputs.items())):
        if inp.type is InputType.uri_folder and inp.path.startswith(("https://", "http://")):
            raise RenderError(
                f"inputs.{name}.path: an https:// input must be a uri_file (folders cannot be listed)"
            )
        path = _data_path(inp.path, volume=f"input-{n}", mount=f"{INPUTS_DIR}/{n}", layout=layout,
                          what=f"inputs.{name}.path", read_only=True)  # fmt: skip
        layout.secret(inp.credentials_secret_ref.name if inp.credentials_secret_ref else None)
        inputs[name] = {"type": inp.type.value, "path": path}
    output = job.spec.output
    if output is None:
        raise RenderError("output: required for target kubernetes (where predictions and logs go)")
    out = _data_path(output.path, volume="output", mount=OUTPUT_DIR, layout=layout, what="output.path",
                     read_only=False)  # fmt: skip
    layout.secret(output.credentials_secret_ref.name if output.credentials_secret_ref else None)
    return {contract.INPUTS: json.dumps(inputs, sort_keys=True, separators=(",", ":")), contract.OUTPUT: out}


def _env(job: BatchJob, dep: BatchDeployment, layout: _Layout, pip: bool) -> tuple[list[Obj], int]:
    s = merge(dep, job.spec.overrides)
    contract_env = _io(job, layout) | _model_and_code(dep, layout)
    contract_env |= {
        contract.MODEL_TYPE: "mlflow" if dep.spec.model.type == "mlflow" else "custom",
        contract.MINI_BATCH_SIZE: str(s.mini_batch_size),
        contract.MAX_CONCURRENCY: str(s.max_concurrency_per_instance),
        contract.OUTPUT_ACTION: s.output_action.value,
        contract.OUTPUT_FILE_NAME: s.output_file_name,
        contract.MAX_RETRIES: str(s.retry_settings.max_retries),
        contract.TIMEOUT: str(s.retry_settings.timeout),
        contract.ERROR_THRESHOLD: str(s.error_threshold),
        contract.LOGGING_LEVEL: s.logging_level.value,
        contract.INSTANCE_COUNT: str(s.instance_count),
        contract.JOB_NAME: job.metadata.name or "",
        contract.TERMINATION_LOG: TERMINATION_LOG,
    }
    if pip:
        user_path = s.environment_variables.get("PYTHONPATH")
        contract_env["PYTHONPATH"] = packages.SITE_PACKAGES + (f":{user_path}" if user_path else "")
    out: list[Obj] = [{"name": k, "value": v} for k, v in contract_env.items()]
    if "HOME" not in s.environment_variables:
        out.append({"name": "HOME", "value": env.TMP_HOME})
    for name, value in s.environment_variables.items():
        if name not in contract_env:
            out.append({"name": name, "value": value.replace("$(", "$$(")})
    return out, s.instance_count


def _container(
    dep: BatchDeployment, layout: _Layout, env_list: list[Obj], res: Obj, settings: RenderSettings
) -> Obj:
    image = dep.spec.environment.image or settings.runtime_image
    out: Obj = {"name": CONTAINER, "image": image}
    if dep.spec.environment.image is None:
        out["imagePullPolicy"] = settings.image_pull_policy
    out |= {"command": ["mlendpoints", "batch", "run"], "env": env_list}
    if layout.env_from:
        out["envFrom"] = list(layout.env_from)
    return out | {
        "resources": res,
        "volumeMounts": layout.mounts,
        "securityContext": pod.container_security(),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def batch_job(
    job: BatchJob, *, deployment: BatchDeployment, compute: InstanceTypeSpec | None, settings: RenderSettings
) -> Obj:
    """The Indexed Job for ``job`` run with ``deployment`` (already resolved by the reconciler).

    Raises:
        RenderError: no output, an ``azureml:`` or unsupported URI, an invalid claim name, or
            conflicting resources (the message names the field).
    """
    name = meta.identity(job)[0]
    spec = deployment.spec
    layout = _Layout()
    reqs = packages.requirements(spec.environment)
    env_list, count = _env(job, deployment, layout, bool(reqs))
    if reqs:
        layout.volumes.append({"name": packages.VOLUME, "emptyDir": {}})
        layout.mounts.append({"name": packages.VOLUME, "mountPath": packages.SITE_PACKAGES, "readOnly": True})
    compute_name = f"InstanceType {spec.instance_type}" if spec.instance_type else "InstanceType"
    res = resources.container_resources(spec.resources, compute=compute, defaults=settings.default_resources,
                                        compute_name=compute_name)  # fmt: skip
    container = _container(deployment, layout, env_list, res, settings)
    init_res = {s: {k: v for k, v in vals.items() if k in ("cpu", "memory")} for s, vals in res.items()}
    init_res = {s: v for s, v in init_res.items() if v}
    init = [pod._fetch_container(f, settings=settings, resources_=init_res) for f in layout.fetches]
    if reqs:
        init.append(pod._pip_container(reqs, main=container, resources_=init_res))
    obj_labels = _labels(job, deployment)
    pod_spec = _pod_spec(deployment, compute, container, init, layout, {BATCH_JOB_LABEL: name})
    template = {"metadata": {"labels": dict(obj_labels)}, "spec": pod_spec}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta.object_meta(job_name(name), owner=job, labels=obj_labels),
        "spec": {
            "completionMode": "Indexed",
            "completions": count,
            "parallelism": count,
            "backoffLimit": BACKOFF_PER_INDEX * count,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER,
                            "operator": "In",
                            "values": [contract.EXIT_JOB_FAILED],
                        },
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "suspend": job.spec.suspend,
            "template": template,
        },
    }


def _labels(job: BatchJob, deployment: BatchDeployment) -> dict[str, str]:
    name, _, uid = meta.identity(job)
    obj_labels = labels.standard(instance=name, component="batch", endpoint=job.spec.endpoint_name,
                                 owner_uid=uid)  # fmt: skip
    return obj_labels | {"app.kubernetes.io/name": APP_NAME, BATCH_JOB_LABEL: name,
                         BATCH_DEPLOYMENT_LABEL: deployment.metadata.name or ""}  # fmt: skip


def egress_policy(job: BatchJob, *, deployment: BatchDeployment) -> Obj | None:
    """The egress NetworkPolicy of the job's pods, or None unless ``deployment.spec.egress.enabled``.

    Shape: ``networking.k8s.io/v1`` NetworkPolicy named like the Job (:func:`job_name`), owned by
    the BatchJob, selecting its pods (``mlendpoints.io/batch-job``), ``policyTypes: [Egress]``:
    DNS (UDP/TCP 53 to ``kube-system``) plus TCP to each ``egress.cidrs[]`` on its ports (see
    :func:`networkpolicy.batch_egress`). Where the CNI enforces NetworkPolicy, the pods can reach
    nothing else (not the API server, not other storage).
    """
    egress = deployment.spec.egress
    if egress is None or not egress.enabled:
        return None
    name, namespace, _ = meta.identity(job)
    targets = [networkpolicy.EgressTarget(c.cidr, tuple(c.ports)) for c in egress.cidrs]
    return networkpolicy.batch_egress(
        name=job_name(name),
        namespace=namespace,
        pod_labels={BATCH_JOB_LABEL: name},
        object_labels=_labels(job, deployment),
        owner_reference=meta.owner_reference(job),
        targets=targets,
    )


def _pod_spec(
    dep: BatchDeployment, compute: InstanceTypeSpec | None, container: Obj, init: list[Obj], layout: _Layout,
    selector: dict[str, str],
) -> Obj:  # fmt: skip
    own_image = dep.spec.environment.image is None
    security: Obj = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if own_image:
        security |= {"runAsUser": pod.RUNTIME_UID, "runAsGroup": pod.RUNTIME_UID, "fsGroup": pod.RUNTIME_UID}
    out: Obj = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": security,
    }
    if compute is not None and compute.node_selector:
        out["nodeSelector"] = dict(compute.node_selector)
    if compute is not None and compute.tolerations:
        out["tolerations"] = [t.to_dict() for t in compute.tolerations]
    out["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": dict(selector)}}
    ]  # fmt: skip
    if init:
        out["initContainers"] = init
    return out | {"containers": [container], "volumes": layout.volumes}
